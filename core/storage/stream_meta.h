#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cereal/types/string.hpp"
#include "cereal/types/vector.hpp"
#include "core/storage/entry.h"

namespace walle::storage {

// A stream's metadata on one server: what changes rarely and must be durable at once when it
// does (the stream's topology, the newest writer seen and its lease).
struct StreamMeta {
  uint64_t topology_version = 0;
  std::vector<std::string> members;  // server ids
  uint64_t first_entry_id = 0;       // trim point: entries below it may be deleted
  uint64_t first_entry_checksum = 0;
  WriterId writer;  // the newest writer this server accepted
  std::string writer_address;
  int64_t writer_lease_ns = 0;
  // Recovery found the uncommitted tail damaged (entries this server may have acknowledged
  // are gone): it must not vote in a claim until a writer newer than `damaged_under` has
  // committed here (protocol-aware repair). Persisted, so a second crash cannot forget it.
  bool tail_damaged = false;
  WriterId damaged_under;
  // The longest lease any writer this server accepted asked for: after a restart the last
  // renewal is unknown, and the writer that last held a lease here may be an earlier one.
  int64_t longest_lease_ns = 0;

  friend bool operator==(const StreamMeta&, const StreamMeta&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(topology_version, members, first_entry_id, first_entry_checksum, writer, writer_address,
       writer_lease_ns, tail_damaged, damaged_under, longest_lease_ns);
  }
};

}  // namespace walle::storage
