#pragma once

// What one replica has done since it opened, for the server's metrics (docs/operations.md,
// "Metrics"). Plain counters kept by the replica's own thread; nothing reads them to decide.

#include <array>
#include <cstdint>

#include "absl/status/status.h"

namespace walle::protocol {

struct ReplicaCounters {
  static constexpr size_t kCodes = 17;  // absl::StatusCode values 0..16

  uint64_t puts_acked = 0;       // put replies OK: the entry is durable here
  uint64_t put_bytes_acked = 0;  // their payload bytes
  uint64_t reads_served = 0;     // read replies, polls included
  uint64_t entries_served = 0;   // entries those carried
  uint64_t claims_granted = 0;   // NewWriter answers OK
  // Error replies to puts, reads and claims, by status code.
  std::array<uint64_t, kCodes> errors{};

  void count_error(const absl::Status& status) {
    const auto code = static_cast<size_t>(status.code());
    ++errors[code < kCodes ? code : static_cast<size_t>(absl::StatusCode::kUnknown)];
  }
};

}  // namespace walle::protocol
