#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "sim/workload.h"

namespace walle::sim {

struct SweepOptions {
  std::string workload{kDefaultWorkload};
  uint64_t first_seed = 1;
  uint64_t last_seed = 1000;  // inclusive
  int jobs = 2;               // worker processes
  bool stop_on_first = false;
  bool check_determinism = false;  // run every seed in two different processes
  std::string failures_path = "walle-sim-failures.txt";
  // Remembers the last seed below which everything is done, so an interrupted sweep resumes.
  std::string state_path;
  bool resume = false;
  absl::btree_map<std::string, std::string> params;
};

struct SweepSummary {
  uint64_t seeds_done = 0;
  uint64_t failures = 0;
  uint64_t determinism_mismatches = 0;
  bool interrupted = false;
};

// Parses "A..B" (inclusive) or a single seed "A".
absl::Status parse_seed_range(const std::string& text, uint64_t& first, uint64_t& last);

// Runs the seeds across worker processes with a live progress line; prints every failure with
// a repro command and appends it to the failures file. Errors are for sweeps that cannot run
// (bad options, unknown workload); failing seeds are reported in the summary.
absl::StatusOr<SweepSummary> run_sweep(const SweepOptions& options);

// The repro command line for one seed.
std::string repro_command(const std::string& workload, uint64_t seed,
                          const absl::btree_map<std::string, std::string>& params);

}  // namespace walle::sim
