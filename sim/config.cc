#include "sim/config.h"

#include "absl/strings/str_cat.h"

namespace walle::sim {
namespace {

absl::Status check_probability(const char* name, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(name, "=", p, " is not a probability in [0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status check_range(const char* min_name, int64_t min_ns, const char* max_name,
                         int64_t max_ns) {
  if (min_ns < 0) return absl::InvalidArgumentError(absl::StrCat(min_name, "=", min_ns, " < 0"));
  if (max_ns < min_ns) {
    return absl::InvalidArgumentError(
        absl::StrCat(max_name, "=", max_ns, " is below ", min_name, "=", min_ns));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NetworkConfig::validate() const {
  if (auto s = check_range("latency_min_ns", latency_min_ns, "latency_max_ns", latency_max_ns);
      !s.ok()) {
    return s;
  }
  if (tail_latency_max_ns < latency_max_ns) {
    return absl::InvalidArgumentError(absl::StrCat("tail_latency_max_ns=", tail_latency_max_ns,
                                                   " is below latency_max_ns=", latency_max_ns));
  }
  for (auto [name, p] : {std::pair{"tail_latency_probability", tail_latency_probability},
                         std::pair{"drop_probability", drop_probability},
                         std::pair{"duplicate_probability", duplicate_probability},
                         std::pair{"reorder_probability", reorder_probability}}) {
    if (auto s = check_probability(name, p); !s.ok()) return s;
  }
  if (drop_probability == 1.0) {
    return absl::InvalidArgumentError("drop_probability=1 would drop every message");
  }
  return absl::OkStatus();
}

absl::Status DiskConfig::validate() const {
  if (write_latency_ns < 0) {
    return absl::InvalidArgumentError(absl::StrCat("write_latency_ns=", write_latency_ns, " < 0"));
  }
  if (write_bytes_per_second <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("write_bytes_per_second=", write_bytes_per_second, " must be > 0"));
  }
  if (auto s = check_range("sync_latency_min_ns", sync_latency_min_ns, "sync_latency_max_ns",
                           sync_latency_max_ns);
      !s.ok()) {
    return s;
  }
  if (slow_sync_max_ns < sync_latency_max_ns) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slow_sync_max_ns=", slow_sync_max_ns, " is below sync_latency_max_ns=", sync_latency_max_ns));
  }
  if (sector_size_bytes != 512 && sector_size_bytes != 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("sector_size_bytes=", sector_size_bytes, " must be 512 or 4096"));
  }
  for (auto [name, p] : {std::pair{"slow_sync_probability", slow_sync_probability},
                         std::pair{"read_error_probability", read_error_probability},
                         std::pair{"enospc_probability", enospc_probability}}) {
    if (auto s = check_probability(name, p); !s.ok()) return s;
  }
  if (capacity_bytes == 0) return absl::InvalidArgumentError("capacity_bytes must be > 0");
  return absl::OkStatus();
}

absl::Status SimConfig::validate() const {
  if (node_count == 0) return absl::InvalidArgumentError("node_count=0: a cluster needs nodes");
  if (node_count > kMaxNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_count=", node_count, " exceeds the simulator's limit of ", kMaxNodes));
  }
  if (max_clock_drift_ppm < 0 || max_clock_drift_ppm > kMaxClockDriftPpm) {
    return absl::InvalidArgumentError(absl::StrCat("max_clock_drift_ppm=", max_clock_drift_ppm,
                                                   " is outside [0, ", kMaxClockDriftPpm, "]"));
  }
  if (auto s = network.validate(); !s.ok()) return s;
  return disk.validate();
}

}  // namespace walle::sim
