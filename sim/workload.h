#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/stats.h"

namespace walle::sim {

// What `walle-sim run` and `sweep` simulate unless told otherwise: the replication protocol.
inline constexpr std::string_view kDefaultWorkload = "protocol";

// How to run one seed of a workload.
struct RunOptions {
  uint64_t seed = 1;
  // Readable event log (walle-sim run --trace); nullptr for none.
  FILE* trace_sink = nullptr;
  // Workload-specific parameters (walle-sim --param key=value); unknown keys are an error.
  absl::btree_map<std::string, std::string> params;
};

// What one seed did.
struct RunResult {
  absl::Status status;  // OK, or the violated invariant with detail
  uint64_t digest = 0;  // trace digest: equal digests mean the same run
  std::string setup;    // the swarm's choices for this seed (cluster, faults)
  SimStats stats;
  int64_t simulated_ns = 0;
  uint64_t events = 0;
};

// A named scenario: builds a cluster for a seed, drives it with faults and a workload, and
// checks its invariants. Implementations must be deterministic in the seed.
class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  // Lines "key=default  meaning" for --help.
  virtual std::vector<std::string> parameters() const = 0;
  // A run that cannot start (bad parameters) returns an error here; a run that finds a bug
  // returns a RunResult whose status says which invariant broke.
  virtual absl::StatusOr<RunResult> run(const RunOptions& options) = 0;
};

// Workloads by name. The built-in ones are registered by register_builtin_workloads().
class WorkloadRegistry {
 public:
  absl::Status add(std::unique_ptr<Workload> workload);
  // kNotFound listing the known names if there is no such workload.
  absl::StatusOr<Workload*> find(std::string_view name) const;
  std::vector<const Workload*> all() const;

 private:
  absl::btree_map<std::string, std::unique_ptr<Workload>, std::less<>> workloads_;
};

// The registry with every built-in workload (the demo counter, and later the protocol ones).
WorkloadRegistry& builtin_workloads();

// Typed access to RunOptions::params with clear errors, and detection of unknown keys.
class ParamReader {
 public:
  explicit ParamReader(const absl::btree_map<std::string, std::string>& params) : params_(params) {}
  // The value of `key` as an integer in [min, max], or `fallback` if absent.
  absl::StatusOr<int64_t> integer(std::string_view key, int64_t fallback, int64_t min, int64_t max);
  // kInvalidArgument naming any key no integer() call asked for.
  absl::Status check_all_used() const;

 private:
  const absl::btree_map<std::string, std::string>& params_;
  std::vector<std::string> used_;
};

}  // namespace walle::sim
