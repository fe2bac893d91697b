#pragma once

// A sweep's results: one record per seed and one for the sweep, printed for people (FAIL
// lines) and written as JSON lines (`walle-sim sweep --json`) that `walle-sim report` merges
// across shards. The schema is in docs/simulation.md, "Sweeps across machines".

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/env/coverage.h"
#include "tools/walle-sim/json.h"
#include "tools/walle-sim/shard.h"
#include "tools/walle-sim/sweep.h"

namespace walle::sim {

// Bumped when a reader of older files would misread newer ones.
inline constexpr int kResultsFormat = 1;

// The worst that happened to a seed, in this order of precedence.
enum class Verdict : uint8_t {
  kCrashed,           // the process died inside the seed
  kNondeterministic,  // two processes disagreed on its digest
  kFail,              // an invariant failed
  kPass,
};
std::string_view verdict_name(Verdict verdict);
inline Verdict verdict_of(bool crashed, bool mismatched, bool failed) {
  if (crashed) return Verdict::kCrashed;
  if (mismatched) return Verdict::kNondeterministic;
  return failed ? Verdict::kFail : Verdict::kPass;
}

// One seed, as its "type":"seed" line holds it.
struct SeedResult {
  uint64_t seed = 0;
  Verdict verdict = Verdict::kPass;
  std::string invariant;  // why it failed; "" exactly when it passed
  std::string setup;      // the swarm's choices for the seed
  uint64_t digest = 0;
  std::optional<uint64_t> other_digest;  // the other process's, when the two disagreed
  uint64_t events = 0;
  int64_t simulated_ns = 0;
  uint64_t messages = 0;
  uint64_t disk_writes = 0;
  std::array<uint64_t, kCoveragePaths> coverage{};
  std::string repro;

  bool failed() const { return !invariant.empty(); }
  bool mismatched() const { return other_digest.has_value(); }
};

// What a sweep was asked to do and what it did: its "type":"summary" line, the last one.
struct SweepRecord {
  std::string workload;
  absl::btree_map<std::string, std::string> params;
  uint64_t first_seed = 0;  // the --seeds range, before sharding
  uint64_t last_seed = 0;
  Shard shard;
  bool check_determinism = false;
  int jobs = 1;
  SweepSummary summary;
};

// Counts a finished seed into a summary (the sweep's, or a report's over many files).
void add_seed(SweepSummary& summary, const SeedResult& seed);

// The lines a sweep and a report print for a failed or nondeterministic seed.
void print_failure(FILE* out, std::string_view workload, const SeedResult& seed);
void print_nondeterminism(FILE* out, uint64_t seed, uint64_t digest, uint64_t other_digest,
                          std::string_view repro);

// {"path name": count, ...} in enum order; only the nonzero ones unless `all`.
std::string coverage_json(const std::array<uint64_t, kCoveragePaths>& counts, bool all);
// The work a sweep (or a merge of sweeps) did, and its coverage totals: the fields a sweep's
// summary line and a report share.
void add_work_totals(JsonObject& object, const SweepSummary& summary);
// One JSON line each, without the newline.
std::string seed_json(const SeedResult& seed);
std::string sweep_json(const SweepRecord& sweep);

// A parsed line of a results file: a seed or a sweep's summary.
using ResultLine = std::variant<SeedResult, SweepRecord>;
// Errors name the field that is missing, mistyped or inconsistent.
absl::StatusOr<ResultLine> parse_result_line(std::string_view line);

}  // namespace walle::sim
