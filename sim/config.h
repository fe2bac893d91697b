#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/env/clock.h"

namespace walle::sim {

// Message latency and single-message faults of every link. Probabilities are per message.
struct NetworkConfig {
  int64_t latency_min_ns = 20 * kNanosPerMicro;
  int64_t latency_max_ns = 200 * kNanosPerMicro;
  double tail_latency_probability = 0.01;  // a message takes up to tail_latency_max_ns
  int64_t tail_latency_max_ns = 5 * kNanosPerMilli;
  double drop_probability = 0;
  double duplicate_probability = 0;
  double reorder_probability = 0;  // a message ignores the link's FIFO order
  // Messages travel as the production transport's frames over TCP-like byte streams, with
  // its handshake (sim/byte_streams.h); drops, duplicates and reordering then do not apply
  // (a byte stream has none), resets and partitions do.
  bool byte_streams = false;
  double corrupt_write_probability = 0;  // byte streams: a write arrives with a flipped bit

  absl::Status validate() const;
};

// Latencies and faults of every node's disk.
struct DiskConfig {
  int64_t write_latency_ns = 5 * kNanosPerMicro;  // plus size / write_bytes_per_second
  int64_t write_bytes_per_second = 1000LL * 1000 * 1000;
  int64_t sync_latency_min_ns = 100 * kNanosPerMicro;
  int64_t sync_latency_max_ns = 400 * kNanosPerMicro;
  double slow_sync_probability = 0;  // a sync takes up to slow_sync_max_ns
  int64_t slow_sync_max_ns = 50 * kNanosPerMilli;
  // The unit a crash keeps or loses as a whole: 512 (sector) or 4096 (page).
  uint32_t sector_size_bytes = 512;
  // true: a crash keeps a random subset of unsynced sectors (torn writes) or all or none;
  // false: a crash loses every unsynced write.
  bool torn_writes = true;
  double read_error_probability = 0;  // a read fails with a transient EIO
  double enospc_probability = 0;      // a write fails with ENOSPC although space remains
  uint64_t capacity_bytes = 1ULL << 30;

  absl::Status validate() const;
};

struct SimConfig {
  uint64_t seed = 1;
  uint32_t node_count = 3;
  // Each node's clock runs at a rate drawn uniformly from 1 +- max_clock_drift_ppm / 1e6.
  int64_t max_clock_drift_ppm = 100;
  NetworkConfig network;
  DiskConfig disk;
  // Code-level fault points (WALLE_BUGGIFY) may fire in the nodes' logic.
  bool buggify = false;

  // OK, or kInvalidArgument naming the first bad field and its allowed range.
  absl::Status validate() const;
};

inline constexpr uint32_t kMaxNodes = 64;
inline constexpr int64_t kMaxClockDriftPpm = 500000;  // 50%: far past any lease bound

}  // namespace walle::sim
