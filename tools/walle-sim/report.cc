#include "tools/walle-sim/report.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "tools/walle-sim/json.h"

namespace walle::sim {
namespace {

// Lists of seeds and problems stay readable: the first few, then a count.
constexpr size_t kExamples = 10;

std::string params_text(const absl::btree_map<std::string, std::string>& params) {
  if (params.empty()) return "(none)";
  return absl::StrJoin(params, " ", absl::PairFormatter("="));
}

std::string range_text(uint64_t first, uint64_t last) { return absl::StrCat(first, "..", last); }

std::string claim_text(const SweepRecord& sweep) {
  const std::string range = absl::StrCat("seeds ", range_text(sweep.first_seed, sweep.last_seed));
  if (sweep.shard.count == 1) return range;
  return absl::StrCat("shard ", shard_name(sweep.shard), " of ", range);
}

SeedSequence claimed_seeds(const SweepRecord& sweep) {
  return shard_seeds(sweep.first_seed, sweep.last_seed, sweep.shard);
}

// splitmix64's finaliser: every input bit moves every output bit.
uint64_t mix(uint64_t h, uint64_t value) {
  uint64_t z = h ^ (value + 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void add_missing(Report& report, uint64_t seed) {
  ++report.missing;
  if (report.missing_examples.size() < kExamples) report.missing_examples.push_back(seed);
}

std::string json_strings(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const std::string& item : items) quoted.push_back(json_quote(item));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

}  // namespace

void ReportBuilder::begin_file(std::string name) {
  ReportFile file;
  file.name = std::move(name);
  report_.files.push_back(std::move(file));
  line_number_ = 0;
}

absl::Status ReportBuilder::add_line(std::string_view line) {
  ++line_number_;
  ReportFile& file = report_.files.back();
  const absl::string_view text =
      absl::StripAsciiWhitespace(absl::string_view(line.data(), line.size()));
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<ResultLine> parsed = parse_result_line(std::string_view(text.data(), text.size()));
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.name, ":", line_number_, ": ", parsed.status().message()));
  }
  if (SweepRecord* sweep = std::get_if<SweepRecord>(&*parsed)) {
    file.wall_s += sweep->summary.wall_s;
    file.sweeps.push_back(std::move(*sweep));
    file.ends_with_summary = true;
    return absl::OkStatus();
  }
  file.ends_with_summary = false;
  add_seed_line(std::move(std::get<SeedResult>(*parsed)));
  return absl::OkStatus();
}

void ReportBuilder::add_seed_line(SeedResult seed) {
  const uint32_t index = static_cast<uint32_t>(report_.files.size() - 1);
  ReportFile& file = report_.files.back();
  const auto [it, inserted] = seen_.try_emplace(seed.seed, Seen{seed.digest, index, seed.verdict});
  if (!inserted) {
    const Seen& before = it->second;
    const bool same_run = before.digest == seed.digest && before.verdict == seed.verdict;
    if (before.digest != seed.digest) {
      report_.rerun_mismatches.push_back(
          Mismatch{seed.seed, before.digest, seed.digest, seed.repro});
    }
    if (before.file != index) {
      if (++overlaps_ <= kExamples) {
        report_.problems.push_back(absl::StrCat("seed ", seed.seed, " is in both ",
                                                report_.files[before.file].name, " and ", file.name,
                                                " (overlapping shards?)"));
      }
    } else if (same_run) {
      ++report_.reruns;  // a resumed sweep runs again the seeds finished out of order
    }
    return;
  }
  add_seed(report_.summary, seed);
  ++file.seeds;
  file.failures += seed.failed();
  if (seed.failed() || seed.mismatched()) report_.failures.push_back(std::move(seed));
}

void ReportBuilder::check_files() {
  const SweepRecord* reference = nullptr;
  const ReportFile* reference_file = nullptr;
  for (const ReportFile& file : report_.files) {
    if (file.sweeps.empty()) {
      report_.problems.push_back(absl::StrCat(
          file.name, ": no summary line: the sweep did not finish (killed?); rerun it"));
      continue;
    }
    if (!file.ends_with_summary) {
      report_.problems.push_back(
          absl::StrCat(file.name,
                       ": seeds after its last summary line: a resumed sweep did "
                       "not finish; resume it again"));
    }
    const SweepRecord& first = file.sweeps.front();
    for (const SweepRecord& later : file.sweeps) {
      if (later.workload != first.workload || later.params != first.params ||
          later.first_seed != first.first_seed || later.last_seed != first.last_seed ||
          later.shard != first.shard) {
        report_.problems.push_back(absl::StrCat(
            file.name, ": its summary lines disagree (", later.workload, " ", claim_text(later),
            " vs ", first.workload, " ", claim_text(first), "): two sweeps in one file?"));
        break;
      }
    }
    if (file.sweeps.back().summary.interrupted) {
      report_.notes.push_back(
          absl::StrCat(file.name, ": the sweep stopped early (interrupted, or --stop-on-first)"));
    }
    if (reference == nullptr) {
      reference = &first;
      reference_file = &file;
      continue;
    }
    if (first.workload != reference->workload || first.params != reference->params) {
      report_.problems.push_back(
          absl::StrCat(file.name, ": workload ", first.workload, " with params ",
                       params_text(first.params), ", but ", reference_file->name, ": workload ",
                       reference->workload, " with params ", params_text(reference->params)));
    }
    if (first.check_determinism != reference->check_determinism) {
      report_.notes.push_back(absl::StrCat(
          file.name, ": --check-determinism ", first.check_determinism ? "on" : "off", ", but ",
          reference_file->name, ": ", reference->check_determinism ? "on" : "off"));
    }
  }
  if (reference != nullptr) {
    report_.workload = reference->workload;
    report_.params = reference->params;
  }
}

void ReportBuilder::check_claims(const std::vector<uint64_t>& sorted_seeds) {
  std::vector<const ReportFile*> claimants;
  for (const ReportFile& file : report_.files) {
    if (!file.sweeps.empty()) claimants.push_back(&file);
  }
  if (claimants.empty()) return;
  const SweepRecord& reference = claimants.front()->sweeps.front();
  report_.one_range = true;
  bool one_count = true;
  report_.first_seed = reference.first_seed;
  report_.last_seed = reference.last_seed;
  for (const ReportFile* file : claimants) {
    const SweepRecord& claim = file->sweeps.front();
    report_.one_range &=
        claim.first_seed == reference.first_seed && claim.last_seed == reference.last_seed;
    one_count &= claim.shard.count == reference.shard.count;
    report_.first_seed = std::min(report_.first_seed, claim.first_seed);
    report_.last_seed = std::max(report_.last_seed, claim.last_seed);
  }

  // Every seed must be one its file claimed.
  uint64_t strays = 0;
  for (const uint64_t seed : sorted_seeds) {
    const ReportFile& file = report_.files[seen_.at(seed).file];
    if (file.sweeps.empty() || claimed_seeds(file.sweeps.front()).contains(seed)) continue;
    if (++strays <= kExamples) {
      report_.problems.push_back(absl::StrCat("seed ", seed, " in ", file.name, " is not in its ",
                                              claim_text(file.sweeps.front())));
    }
  }
  if (strays > kExamples) {
    report_.problems.push_back(
        absl::StrCat("... and ", strays - kExamples, " more seeds outside their file's claim"));
  }

  if (report_.one_range) {
    // The shards of one sweep: the whole range must be there. The gaps between the seeds
    // present are what is missing, however large the range.
    uint64_t expect = report_.first_seed;
    bool past_end = false;
    for (const uint64_t seed : sorted_seeds) {
      if (seed < report_.first_seed || seed > report_.last_seed) continue;
      for (uint64_t s = expect; s < seed; ++s) {
        if (report_.missing_examples.size() == kExamples) {
          report_.missing += seed - s;
          break;
        }
        add_missing(report_, s);
      }
      past_end = seed == report_.last_seed;
      expect = seed + 1;
    }
    if (!past_end && expect <= report_.last_seed) {
      for (uint64_t s = expect; s <= report_.last_seed; ++s) {
        if (report_.missing_examples.size() == kExamples) {
          report_.missing += report_.last_seed - s + 1;
          break;
        }
        add_missing(report_, s);
      }
    }
    if (one_count) {
      const uint64_t count = reference.shard.count;
      absl::btree_map<uint64_t, const ReportFile*> holders;
      for (const ReportFile* file : claimants) {
        const uint64_t index = file->sweeps.front().shard.index;
        const auto [it, inserted] = holders.try_emplace(index, file);
        if (!inserted) {
          report_.problems.push_back(absl::StrCat("shard ", index, "/", count, " is in both ",
                                                  it->second->name, " and ", file->name));
        }
      }
      // Name the absent shards only while the list is short enough to read.
      if (count - holders.size() <= kExamples) {
        for (uint64_t i = 0; i < count; ++i) {
          if (!holders.contains(i)) report_.absent_shards.push_back(absl::StrCat(i, "/", count));
        }
      }
    }
    return;
  }
  // Several ranges (e.g. 1..1000 and 1001..2000): each file's own claim must be there.
  for (const ReportFile* file : claimants) {
    const SeedSequence claim = claimed_seeds(file->sweeps.front());
    auto next = std::lower_bound(sorted_seeds.begin(), sorted_seeds.end(), claim.first);
    for (uint64_t i = 0; i < claim.count; ++i) {
      const uint64_t seed = claim.at(i);
      while (next != sorted_seeds.end() && *next < seed) ++next;
      if (next == sorted_seeds.end() || *next != seed) add_missing(report_, seed);
    }
  }
}

Report ReportBuilder::finish() {
  check_files();
  std::vector<uint64_t> sorted_seeds;
  sorted_seeds.reserve(seen_.size());
  for (const auto& [seed, seen] : seen_) sorted_seeds.push_back(seed);
  std::sort(sorted_seeds.begin(), sorted_seeds.end());
  check_claims(sorted_seeds);
  if (overlaps_ > kExamples) {
    report_.problems.push_back(
        absl::StrCat("... and ", overlaps_ - kExamples, " more seeds in two files"));
  }
  for (const uint64_t seed : sorted_seeds) {
    const Seen& seen = seen_.at(seed);
    report_.digest =
        mix(mix(mix(report_.digest, seed), seen.digest), static_cast<uint64_t>(seen.verdict));
  }
  report_.summary.determinism_mismatches += report_.rerun_mismatches.size();
  for (const ReportFile& file : report_.files) {
    report_.summary.wall_s += file.wall_s;
    if (file.wall_s >= report_.slowest_wall_s) {
      report_.slowest_wall_s = file.wall_s;
      report_.slowest_file = file.name;
    }
    if (file.sweeps.size() > 1) {
      report_.notes.push_back(
          absl::StrCat(file.name, ": ", file.sweeps.size(), " runs of a resumed sweep"));
    }
  }
  if (report_.reruns > 0) {
    report_.notes.push_back(absl::StrCat(report_.reruns,
                                         " seeds ran twice in a resumed sweep, "
                                         "with the same digests (counted once)"));
  }
  std::sort(report_.failures.begin(), report_.failures.end(),
            [](const SeedResult& a, const SeedResult& b) { return a.seed < b.seed; });
  return std::move(report_);
}

absl::StatusOr<Report> read_report(const std::vector<std::string>& paths) {
  ReportBuilder builder;
  for (const std::string& path : paths) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
      file.open(path);
      if (!file) {
        return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
      }
      in = &file;
    }
    builder.begin_file(path == "-" ? "(stdin)" : path);
    std::string line;
    while (std::getline(*in, line)) {
      if (absl::Status s = builder.add_line(line); !s.ok()) return s;
    }
    if (in->bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  return builder.finish();
}

void print_report(const Report& r, FILE* out) {
  const SweepSummary& s = r.summary;
  std::fprintf(out,
               "report: %s, seeds %s%s: %llu ran, %llu failed, %llu nondeterministic, "
               "%llu missing\n",
               r.workload.c_str(), r.one_range ? "" : "from several ranges within ",
               range_text(r.first_seed, r.last_seed).c_str(),
               static_cast<unsigned long long>(s.seeds_done),
               static_cast<unsigned long long>(s.failures),
               static_cast<unsigned long long>(s.determinism_mismatches),
               static_cast<unsigned long long>(r.missing));
  std::fprintf(out, "  params: %s\n", params_text(r.params).c_str());
  for (const ReportFile& file : r.files) {
    std::fprintf(out, "  file %s: %s, %llu seeds, %llu failures, %.2fs wall\n", file.name.c_str(),
                 file.sweeps.empty() ? "no summary" : claim_text(file.sweeps.front()).c_str(),
                 static_cast<unsigned long long>(file.seeds),
                 static_cast<unsigned long long>(file.failures), file.wall_s);
  }
  for (const SeedResult& seed : r.failures) {
    if (seed.mismatched()) {
      print_nondeterminism(out, seed.seed, *seed.other_digest, seed.digest, seed.repro);
    }
    if (seed.failed()) print_failure(out, r.workload, seed);
  }
  for (const Mismatch& m : r.rerun_mismatches) {
    print_nondeterminism(out, m.seed, m.digest, m.other_digest, m.repro);
  }
  const double n = std::max<double>(static_cast<double>(s.seeds_done), 1);
  std::fprintf(out, "per seed: %.1f simulated s, %.0f events, %.0f messages, %.0f disk writes\n",
               s.simulated_ns / 1e9 / n, s.events / n, s.messages / n, s.disk_writes / n);
  std::fprintf(out, "digest: %016llx (of every seed's digest and verdict, in seed order)\n",
               static_cast<unsigned long long>(r.digest));
  std::fprintf(out,
               "throughput: %zu files, %.1f seeds per shard-second (%.1f shard-seconds); "
               "slowest shard %.2fs wall (%s): %.0f seeds/s over all\n",
               r.files.size(), s.seeds_done / std::max(s.wall_s, 1e-9), s.wall_s, r.slowest_wall_s,
               r.slowest_file.c_str(), s.seeds_done / std::max(r.slowest_wall_s, 1e-9));
  print_coverage(s, out);
  print_uncovered(r.uncovered, out);
  if (r.missing > 0) {
    std::vector<std::string> examples;
    for (const uint64_t seed : r.missing_examples) examples.push_back(absl::StrCat(seed));
    std::fprintf(out, "missing: %llu seeds claimed but in no file: %s%s\n",
                 static_cast<unsigned long long>(r.missing), absl::StrJoin(examples, ", ").c_str(),
                 r.missing > examples.size() ? ", ..." : "");
  }
  if (!r.absent_shards.empty()) {
    std::fprintf(out, "  absent shards: %s\n", absl::StrJoin(r.absent_shards, ", ").c_str());
  }
  for (const std::string& note : r.notes) std::fprintf(out, "note: %s\n", note.c_str());
  for (const std::string& problem : r.problems) std::fprintf(out, "error: %s\n", problem.c_str());
  switch (report_exit_status(r)) {
    case 0:
      std::fprintf(out, "report: PASS\n");
      break;
    case 1:
      std::fprintf(out, "report: FAIL\n");
      break;
    default:
      std::fprintf(out, "report: BAD INPUT (the files do not fit together)\n");
  }
}

std::string report_json(const Report& r) {
  const SweepSummary& s = r.summary;
  std::vector<std::string> failing;
  for (const SeedResult& seed : r.failures) {
    failing.push_back(JsonObject()
                          .add_uint("seed", seed.seed)
                          .add_string("verdict", verdict_name(seed.verdict))
                          .add_string("invariant", seed.invariant)
                          .add_string("repro", seed.repro)
                          .str());
  }
  std::vector<std::string> files;
  for (const ReportFile& file : r.files) files.push_back(file.name);
  JsonObject params;
  for (const auto& [key, value] : r.params) params.add_string(key, value);
  std::vector<std::string> missing;
  for (const uint64_t seed : r.missing_examples) missing.push_back(absl::StrCat(seed));
  JsonObject line;
  line.add_string("type", "report")
      .add_uint("format", kResultsFormat)
      .add_string("workload", r.workload)
      .add_object("params", params)
      .add_uint("first_seed", r.first_seed)
      .add_uint("last_seed", r.last_seed)
      .add_bool("one_range", r.one_range)
      .add_raw("files", json_strings(files))
      .add_uint("seeds", s.seeds_done)
      .add_uint("failures", s.failures)
      .add_uint("determinism_mismatches", s.determinism_mismatches)
      .add_uint("missing", r.missing)
      .add_raw("missing_examples", absl::StrCat("[", absl::StrJoin(missing, ","), "]"))
      .add_raw("absent_shards", json_strings(r.absent_shards))
      .add_raw("failing_seeds", absl::StrCat("[", absl::StrJoin(failing, ","), "]"))
      .add_string("digest", absl::StrFormat("%016x", r.digest))
      .add_double("shard_seconds", s.wall_s)
      .add_double("slowest_shard_s", r.slowest_wall_s);
  add_work_totals(line, s);
  line.add_raw("notes", json_strings(r.notes))
      .add_raw("uncovered", json_strings(r.uncovered))
      .add_raw("problems", json_strings(r.problems))
      .add_int("exit_status", report_exit_status(r));
  return line.str();
}

int report_exit_status(const Report& r) {
  if (!r.problems.empty()) return 2;
  const SweepSummary& s = r.summary;
  const bool bad = s.failures > 0 || s.determinism_mismatches > 0 || r.missing > 0;
  return bad || !r.uncovered.empty() ? 1 : 0;
}

}  // namespace walle::sim
