#pragma once

// `walle-sim report`: merges the JSON-lines results of sweeps (typically the shards of one
// sweep, run on several machines) into one summary, and checks that they fit together: one
// workload with one set of parameters, no seed twice, no seed of the claimed ranges missing.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "tools/walle-sim/results.h"

namespace walle::sim {

// What one results file holds.
struct ReportFile {
  std::string name;
  // Its summary lines: one, or one per run of a sweep resumed with --resume.
  std::vector<SweepRecord> sweeps;
  uint64_t seeds = 0;  // distinct seeds in it
  uint64_t failures = 0;
  double wall_s = 0;  // over its sweeps
  bool ends_with_summary = false;
};

// A seed two processes (or two runs) disagreed on.
struct Mismatch {
  uint64_t seed = 0;
  uint64_t digest = 0;
  uint64_t other_digest = 0;
  std::string repro;
};

struct Report {
  std::string workload;  // the first file's; every file must have the same
  absl::btree_map<std::string, std::string> params;
  std::vector<ReportFile> files;
  // Over distinct seeds; wall_s is the sum over files (shard-seconds).
  SweepSummary summary;
  double slowest_wall_s = 0;
  std::string slowest_file;
  // Failed or nondeterministic seeds, by seed.
  std::vector<SeedResult> failures;
  // The same seed with two digests: in one file across runs, or in two files.
  std::vector<Mismatch> rerun_mismatches;
  // The claimed seeds: every file's --seeds range, sharded. `one_range` when all claim the
  // same range A..B (the shards of one sweep), which then must be covered whole.
  bool one_range = false;
  uint64_t first_seed = 0;
  uint64_t last_seed = 0;
  uint64_t missing = 0;
  std::vector<uint64_t> missing_examples;  // the first few
  std::vector<std::string> absent_shards;  // "I/N" no file holds, when all split by one N
  uint64_t reruns = 0;                     // seeds a resumed sweep ran again (counted once)
  // Fold of every seed's number, digest and verdict in seed order: two reports with the same
  // value saw the same runs.
  uint64_t digest = 0;
  // Paths never taken, when the caller requires coverage (--require-coverage): exit status 1.
  std::vector<std::string> uncovered;
  std::vector<std::string> notes;     // worth knowing, harmless (an interrupted sweep)
  std::vector<std::string> problems;  // inputs that do not fit together: exit status 2
};

// Builds a report from the lines of the files, in order. Memory: a few words per seed.
class ReportBuilder {
 public:
  // Lines added from now on belong to the file `name`.
  void begin_file(std::string name);
  // One line of the current file. A malformed line is an error naming file and line.
  absl::Status add_line(std::string_view line);
  // Checks the claims against the seeds and summarises. Call once.
  Report finish();

 private:
  struct Seen {
    uint64_t digest = 0;
    uint32_t file = 0;
    Verdict verdict = Verdict::kPass;
  };
  void add_seed_line(SeedResult seed);
  void check_files();
  void check_claims(const std::vector<uint64_t>& sorted_seeds);

  Report report_;
  absl::flat_hash_map<uint64_t, Seen> seen_;
  size_t line_number_ = 0;
  uint64_t overlaps_ = 0;
};

// Reads the files into a report. Errors (exit status 2): a file that cannot be read, or a
// malformed line.
absl::StatusOr<Report> read_report(const std::vector<std::string>& paths);

// Prints the report: the same failure lines and coverage table as a sweep.
void print_report(const Report& report, FILE* out);
// The report as one JSON line ("type":"report"), without the newline.
std::string report_json(const Report& report);
// 0 every claimed seed ran and passed; 1 a failure, a mismatch, a missing seed or a required
// path not taken; 2 the inputs do not fit together.
int report_exit_status(const Report& report);

}  // namespace walle::sim
