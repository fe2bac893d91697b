#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/env/coverage.h"
#include "sim/workload.h"
#include "tools/walle-sim/shard.h"

namespace walle::sim {

struct SweepOptions {
  std::string workload{kDefaultWorkload};
  uint64_t first_seed = 1;
  uint64_t last_seed = 1000;  // inclusive
  Shard shard;                // run only this shard's seeds of the range (shard.h)
  int jobs = 2;               // worker processes
  bool stop_on_first = false;
  bool check_determinism = false;  // run every seed in two different processes
  std::string failures_path = "walle-sim-failures.txt";
  // Remembers the last seed below which everything is done, so an interrupted sweep resumes.
  std::string state_path;
  bool resume = false;
  absl::btree_map<std::string, std::string> params;
  bool print_coverage = true;  // the table of paths taken, at the end
  // JSON lines, one per seed and a summary (results.h); "-" is stdout, and then what the
  // sweep prints for people goes to stderr. Appended to when resuming.
  std::string json_path;
  // Test only (hidden --trip-check-at-seed): a WALLE_CHECK fails as this seed starts, to prove
  // that a failed check names its seed and repro line. 0: never.
  uint64_t trip_check_seed = 0;
};

struct SweepSummary {
  uint64_t seeds_done = 0;
  uint64_t failures = 0;
  uint64_t determinism_mismatches = 0;
  bool interrupted = false;
  // Per CoveragePath: times taken over all seeds, and seeds that took it at least once.
  std::array<uint64_t, kCoveragePaths> coverage{};
  std::array<uint64_t, kCoveragePaths> coverage_seeds{};
  // The work the seeds did, and the wall time it took.
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t disk_writes = 0;
  int64_t simulated_ns = 0;
  double wall_s = 0;
};

// Prints the coverage table of a finished sweep (or of a report merging several).
void print_coverage(const SweepSummary& summary, FILE* out = stdout);
// Names of the paths never taken, except those in `exempt`.
std::vector<std::string> uncovered_paths(const SweepSummary& summary,
                                         const std::vector<std::string>& exempt);
// The line --require-coverage prints for them (none if `missed` is empty).
void print_uncovered(const std::vector<std::string>& missed, FILE* out);

// Parses "A..B" (inclusive) or a single seed "A".
absl::Status parse_seed_range(const std::string& text, uint64_t& first, uint64_t& last);

// Runs the seeds across worker processes with a live progress line; prints every failure with
// a repro command and appends it to the failures file. Errors are for sweeps that cannot run
// (bad options, unknown workload); failing seeds are reported in the summary.
absl::StatusOr<SweepSummary> run_sweep(const SweepOptions& options);

// The repro command line for one seed.
std::string repro_command(const std::string& workload, uint64_t seed,
                          const absl::btree_map<std::string, std::string>& params);

// Makes a WALLE_CHECK that fails while this seed runs print it and its repro command
// (walle::internal::set_check_failure_context), like a failing seed's FAIL line.
void set_seed_check_context(const std::string& workload, uint64_t seed,
                            const absl::btree_map<std::string, std::string>& params);

}  // namespace walle::sim
