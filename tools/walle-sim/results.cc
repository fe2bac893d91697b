#include "tools/walle-sim/results.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/walle-sim/json.h"

namespace walle::sim {
namespace {

using Counts = std::array<uint64_t, kCoveragePaths>;

constexpr std::array<std::string_view, 4> kVerdictNames = {"crashed", "nondeterministic", "fail",
                                                           "pass"};

std::string hex(uint64_t value) { return absl::StrFormat("%016x", value); }

// Typed access to the fields of one parsed line; errors name the field.
class Fields {
 public:
  explicit Fields(const JsonValue& object) : object_(object) {}

  absl::Status uint(std::string_view key, uint64_t& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kNumber || !absl::SimpleAtoi(v->text, &out)) {
      return bad(key, "a non-negative integer");
    }
    return absl::OkStatus();
  }
  absl::Status int64(std::string_view key, int64_t& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kNumber || !absl::SimpleAtoi(v->text, &out)) {
      return bad(key, "an integer");
    }
    return absl::OkStatus();
  }
  absl::Status real(std::string_view key, double& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kNumber || !absl::SimpleAtod(v->text, &out)) {
      return bad(key, "a number");
    }
    return absl::OkStatus();
  }
  absl::Status boolean(std::string_view key, bool& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kBool) return bad(key, "true or false");
    out = v->boolean;
    return absl::OkStatus();
  }
  absl::Status string(std::string_view key, std::string& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kString) return bad(key, "a string");
    out = v->text;
    return absl::OkStatus();
  }
  absl::Status hex64(std::string_view key, uint64_t& out) const {
    std::string text;
    if (absl::Status s = string(key, text); !s.ok()) return s;
    if (text.empty() || text.size() > 16 || !absl::SimpleHexAtoi(text, &out)) {
      return bad(key, "a hex string of up to 16 digits");
    }
    return absl::OkStatus();
  }
  absl::Status string_map(std::string_view key,
                          absl::btree_map<std::string, std::string>& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kObject) return bad(key, "an object");
    for (const auto& [name, value] : v->members) {
      if (value.kind != JsonValue::Kind::kString) return bad(key, "an object of strings");
      out[name] = value.text;
    }
    return absl::OkStatus();
  }
  // {"path name": count}; names this build does not know are an error (another version).
  absl::Status coverage(std::string_view key, Counts& out) const {
    const JsonValue* v = object_.find(key);
    if (v == nullptr || v->kind != JsonValue::Kind::kObject) return bad(key, "an object");
    for (const auto& [name, value] : v->members) {
      const auto* it = std::find(kCoveragePathNames.begin(), kCoveragePathNames.end(), name);
      if (it == kCoveragePathNames.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", std::string(key), "\" names the unknown coverage path '", name, "'"));
      }
      uint64_t count = 0;
      if (value.kind != JsonValue::Kind::kNumber || !absl::SimpleAtoi(value.text, &count)) {
        return bad(key, "an object of counts");
      }
      out[it - kCoveragePathNames.begin()] = count;
    }
    return absl::OkStatus();
  }
  bool has(std::string_view key) const { return object_.find(key) != nullptr; }

 private:
  static absl::Status bad(std::string_view key, std::string_view want) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(key), "\" must be ", std::string(want)));
  }
  const JsonValue& object_;
};

// The first error, in argument order, of checks that have all run.
template <typename... Statuses>
absl::Status first_error(const Statuses&... statuses) {
  absl::Status status;
  ((status.ok() ? (void)(status = statuses) : (void)0), ...);
  return status;
}

// A line's verdict must be the one the sweep would derive from the rest of it.
bool verdict_consistent(const SeedResult& r) {
  switch (r.verdict) {
    case Verdict::kCrashed:
      return r.failed();
    case Verdict::kNondeterministic:
      return r.mismatched();
    case Verdict::kFail:
      return r.failed() && !r.mismatched();
    case Verdict::kPass:
      return !r.failed() && !r.mismatched();
  }
  return false;
}

absl::StatusOr<SeedResult> parse_seed(const Fields& f) {
  SeedResult r;
  std::string verdict;
  absl::Status s = first_error(f.uint("seed", r.seed), f.string("verdict", verdict),
                               f.string("invariant", r.invariant), f.string("setup", r.setup),
                               f.hex64("digest", r.digest), f.uint("events", r.events),
                               f.int64("simulated_ns", r.simulated_ns),
                               f.uint("messages", r.messages), f.uint("disk_writes", r.disk_writes),
                               f.coverage("coverage", r.coverage), f.string("repro", r.repro));
  if (!s.ok()) return s;
  if (f.has("other_digest")) {
    uint64_t other = 0;
    if (s = f.hex64("other_digest", other); !s.ok()) return s;
    r.other_digest = other;
  }
  const auto* it = std::find(kVerdictNames.begin(), kVerdictNames.end(), verdict);
  if (it == kVerdictNames.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown verdict '", verdict, "'"));
  }
  r.verdict = static_cast<Verdict>(it - kVerdictNames.begin());
  if (!verdict_consistent(r)) {
    return absl::InvalidArgumentError(
        absl::StrCat("verdict '", verdict, "' disagrees with \"invariant\" or \"other_digest\""));
  }
  return r;
}

absl::StatusOr<SweepRecord> parse_sweep(const Fields& f) {
  SweepRecord r;
  SweepSummary& s = r.summary;
  uint64_t format = 0;
  uint64_t jobs = 0;
  std::string shard;
  absl::Status status = first_error(
      f.uint("format", format), f.string("workload", r.workload), f.string_map("params", r.params),
      f.uint("first_seed", r.first_seed), f.uint("last_seed", r.last_seed),
      f.string("shard", shard), f.boolean("check_determinism", r.check_determinism),
      f.uint("jobs", jobs), f.uint("seeds", s.seeds_done), f.uint("failures", s.failures),
      f.uint("determinism_mismatches", s.determinism_mismatches),
      f.boolean("interrupted", s.interrupted), f.real("wall_s", s.wall_s),
      f.uint("events", s.events), f.uint("messages", s.messages),
      f.uint("disk_writes", s.disk_writes), f.int64("simulated_ns", s.simulated_ns),
      f.coverage("coverage", s.coverage), f.coverage("coverage_seeds", s.coverage_seeds));
  if (!status.ok()) return status;
  if (format != kResultsFormat) {
    return absl::InvalidArgumentError(absl::StrCat("results format ", format, ", but this ",
                                                   "walle-sim reads format ", kResultsFormat));
  }
  absl::StatusOr<Shard> parsed = parse_shard(shard);
  if (!parsed.ok()) return parsed.status();
  r.shard = *parsed;
  r.jobs = static_cast<int>(std::min<uint64_t>(jobs, 1 << 20));
  return r;
}

}  // namespace

std::string_view verdict_name(Verdict verdict) {
  return kVerdictNames[static_cast<size_t>(verdict)];
}

std::string coverage_json(const std::array<uint64_t, kCoveragePaths>& counts, bool all) {
  JsonObject object;
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    if (all || counts[i] > 0) object.add_uint(kCoveragePathNames[i], counts[i]);
  }
  return object.str();
}

void add_seed(SweepSummary& summary, const SeedResult& seed) {
  ++summary.seeds_done;
  summary.failures += seed.failed();
  summary.determinism_mismatches += seed.mismatched();
  summary.events += seed.events;
  summary.messages += seed.messages;
  summary.disk_writes += seed.disk_writes;
  summary.simulated_ns += seed.simulated_ns;
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    summary.coverage[i] += seed.coverage[i];
    summary.coverage_seeds[i] += seed.coverage[i] > 0;
  }
}

void print_failure(FILE* out, std::string_view workload, const SeedResult& seed) {
  std::fprintf(out, "FAIL seed=%llu workload=%.*s: %s\n  setup: %s\n  repro: %s\n",
               static_cast<unsigned long long>(seed.seed), static_cast<int>(workload.size()),
               workload.data(), seed.invariant.c_str(), seed.setup.c_str(), seed.repro.c_str());
}

void print_nondeterminism(FILE* out, uint64_t seed, uint64_t digest, uint64_t other_digest,
                          std::string_view repro) {
  std::fprintf(out,
               "NONDETERMINISM seed=%llu: digests %016llx and %016llx in two processes\n"
               "  repro: %.*s\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(digest),
               static_cast<unsigned long long>(other_digest), static_cast<int>(repro.size()),
               repro.data());
}

std::string seed_json(const SeedResult& r) {
  JsonObject line;
  line.add_string("type", "seed")
      .add_uint("seed", r.seed)
      .add_string("verdict", verdict_name(r.verdict))
      .add_string("invariant", r.invariant)
      .add_string("setup", r.setup)
      .add_string("digest", hex(r.digest));
  if (r.other_digest) line.add_string("other_digest", hex(*r.other_digest));
  return line.add_uint("events", r.events)
      .add_int("simulated_ns", r.simulated_ns)
      .add_uint("messages", r.messages)
      .add_uint("disk_writes", r.disk_writes)
      .add_raw("coverage", coverage_json(r.coverage, false))
      .add_string("repro", r.repro)
      .str();
}

std::string sweep_json(const SweepRecord& r) {
  JsonObject params;
  for (const auto& [key, value] : r.params) params.add_string(key, value);
  const SweepSummary& s = r.summary;
  JsonObject line;
  line.add_string("type", "summary")
      .add_uint("format", kResultsFormat)
      .add_string("workload", r.workload)
      .add_object("params", params)
      .add_uint("first_seed", r.first_seed)
      .add_uint("last_seed", r.last_seed)
      .add_string("shard", shard_name(r.shard))
      .add_bool("check_determinism", r.check_determinism)
      .add_uint("jobs", static_cast<uint64_t>(r.jobs))
      .add_uint("seeds", s.seeds_done)
      .add_uint("failures", s.failures)
      .add_uint("determinism_mismatches", s.determinism_mismatches)
      .add_bool("interrupted", s.interrupted)
      .add_double("wall_s", s.wall_s);
  add_work_totals(line, s);
  return line.str();
}

void add_work_totals(JsonObject& object, const SweepSummary& s) {
  object.add_uint("events", s.events)
      .add_uint("messages", s.messages)
      .add_uint("disk_writes", s.disk_writes)
      .add_int("simulated_ns", s.simulated_ns)
      .add_raw("coverage", coverage_json(s.coverage, true))
      .add_raw("coverage_seeds", coverage_json(s.coverage_seeds, true));
}

absl::StatusOr<ResultLine> parse_result_line(std::string_view line) {
  absl::StatusOr<JsonValue> json = parse_json(line);
  if (!json.ok()) return json.status();
  if (json->kind != JsonValue::Kind::kObject) {
    return absl::InvalidArgumentError("a results line must be a JSON object");
  }
  const Fields fields(*json);
  std::string type;
  if (absl::Status s = fields.string("type", type); !s.ok()) return s;
  if (type == "seed") {
    absl::StatusOr<SeedResult> seed = parse_seed(fields);
    if (!seed.ok()) return seed.status();
    return ResultLine(std::move(*seed));
  }
  if (type == "summary") {
    absl::StatusOr<SweepRecord> sweep = parse_sweep(fields);
    if (!sweep.ok()) return sweep.status();
    return ResultLine(std::move(*sweep));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown \"type\" '", type, "' (expected seed or summary)"));
}

}  // namespace walle::sim
