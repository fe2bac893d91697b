// The sweep tool's pieces that sharded sweeps rely on: the shard split, the JSON lines of the
// results files, and the report that merges them.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/walle-sim/json.h"
#include "tools/walle-sim/report.h"
#include "tools/walle-sim/results.h"
#include "tools/walle-sim/shard.h"

namespace walle::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint64_t> all_seeds(const SeedSequence& seq) {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < seq.count; ++i) out.push_back(seq.at(i));
  return out;
}

TEST(SweepShard, ParsesIndexOverCount) {
  absl::StatusOr<Shard> shard = parse_shard("3/4");
  ASSERT_TRUE(shard.ok()) << shard.status();
  EXPECT_EQ(shard->index, 3u);
  EXPECT_EQ(shard->count, 4u);
  EXPECT_EQ(shard_name(*shard), "3/4");
}

TEST(SweepShard, RejectsWhatIsNoShard) {
  for (const char* bad : {"4/4", "1/0", "x", "1", "1/2/3", "-1/4", "/4", "1/", ""}) {
    absl::StatusOr<Shard> shard = parse_shard(bad);
    EXPECT_FALSE(shard.ok()) << bad;
  }
  EXPECT_THAT(std::string(parse_shard("4/4").status().message()), HasSubstr("0..3"));
}

// The property sharding exists for: N shards run every seed of the range exactly once.
TEST(SweepShard, ShardsPartitionTheRange) {
  for (const uint64_t first : {0ull, 1ull, 17ull}) {
    for (const uint64_t length : {1ull, 2ull, 7ull, 100ull}) {
      for (const uint64_t count : {1ull, 2ull, 3ull, 4ull, 7ull, 150ull}) {
        std::vector<int> runs(length, 0);
        for (uint64_t index = 0; index < count; ++index) {
          for (const uint64_t seed :
               all_seeds(shard_seeds(first, first + length - 1, Shard{index, count}))) {
            ASSERT_GE(seed, first);
            ASSERT_LT(seed - first, length);
            EXPECT_EQ((seed - first) % count, index);
            ++runs[seed - first];
          }
        }
        for (uint64_t i = 0; i < length; ++i) {
          EXPECT_EQ(runs[i], 1) << "seed " << first + i << " of " << first << ".."
                                << first + length - 1 << " in " << count << " shards";
        }
      }
    }
  }
}

TEST(SweepShard, StartsAtTheResumePoint) {
  EXPECT_THAT(all_seeds(shard_seeds(1, 20, Shard{1, 4}, 0)), ElementsAre(2, 6, 10, 14, 18));
  EXPECT_THAT(all_seeds(shard_seeds(1, 20, Shard{1, 4}, 7)), ElementsAre(10, 14, 18));
  EXPECT_THAT(all_seeds(shard_seeds(1, 20, Shard{1, 4}, 10)), ElementsAre(10, 14, 18));
  EXPECT_EQ(shard_seeds(1, 20, Shard{1, 4}, 19).count, 0u);
  EXPECT_EQ(shard_seeds(1, 3, Shard{5, 8}).count, 0u);  // more shards than seeds
}

TEST(SweepShard, RangesNearTheTopDoNotOverflow) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_THAT(all_seeds(shard_seeds(kMax - 9, kMax, Shard{2, 3})),
              ElementsAre(kMax - 7, kMax - 4, kMax - 1));
  EXPECT_EQ(shard_seeds(kMax - 9, kMax, Shard{2, 3}, kMax).count, 0u);
  const SeedSequence seq = shard_seeds(kMax - 9, kMax, Shard{0, 3});
  EXPECT_TRUE(seq.contains(kMax));
  EXPECT_FALSE(seq.contains(kMax - 1));
}

TEST(SweepJson, QuotesWhatJsonRequires) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
  EXPECT_EQ(json_quote(std::string("nul\0bell\x07", 9)), "\"nul\\u0000bell\\u0007\"");
  EXPECT_EQ(json_quote("µs ✓"), "\"µs ✓\"");  // UTF-8 passes through
}

TEST(SweepJson, ParsesBackWhatItQuotes) {
  const std::string nasty = "\"quoted\" \\ / \b\f\n\r\t \x01\x1f end µ";
  absl::StatusOr<JsonValue> value = parse_json(json_quote(nasty));
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->kind, JsonValue::Kind::kString);
  EXPECT_EQ(value->text, nasty);
}

TEST(SweepJson, ParsesObjectsArraysAndExactNumbers) {
  absl::StatusOr<JsonValue> value = parse_json(
      R"( {"seed": 18446744073709551615, "ok": true, "no": false, "none": null,
           "list": [1, -2.5e3, "x"], "nested": {"a": {}}, "u": "\u00b5\ud83d\ude00"} )");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->find("seed")->text, "18446744073709551615");  // not rounded to a double
  EXPECT_TRUE(value->find("ok")->boolean);
  EXPECT_FALSE(value->find("no")->boolean);
  EXPECT_EQ(value->find("none")->kind, JsonValue::Kind::kNull);
  ASSERT_EQ(value->find("list")->items.size(), 3u);
  EXPECT_EQ(value->find("list")->items[1].text, "-2.5e3");
  EXPECT_EQ(value->find("nested")->find("a")->kind, JsonValue::Kind::kObject);
  EXPECT_EQ(value->find("u")->text, "µ😀");
  EXPECT_EQ(value->find("missing"), nullptr);
}

TEST(SweepJson, RejectsMalformedText) {
  for (const char* bad : {"", "{", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "\"open", "\"\\x\"", "01",
                          "1.", "-", "tru", "{} {}", "\"\\ud800\"", "\"tab\there\""}) {
    EXPECT_FALSE(parse_json(bad).ok()) << bad;
  }
  EXPECT_FALSE(parse_json(std::string(1000, '[')).ok());  // too deep: an error, no crash
}

TEST(SweepJson, WritesObjectsOnOneLine) {
  JsonObject inner;
  inner.add_uint("n", 3);
  EXPECT_EQ(JsonObject()
                .add_string("s", "a\"b")
                .add_uint("u", 18446744073709551615ull)
                .add_int("i", -4)
                .add_bool("b", true)
                .add_double("d", 0.5)
                .add_double("inf", std::numeric_limits<double>::infinity())
                .add_object("o", inner)
                .str(),
            R"({"s":"a\"b","u":18446744073709551615,"i":-4,"b":true,"d":0.5,"inf":null,)"
            R"("o":{"n":3}})");
}

SeedResult make_seed(uint64_t seed) {
  SeedResult r;
  r.seed = seed;
  r.setup = "nodes=3 \"quoted\"\tfaults";
  r.digest = seed * 0x9e3779b97f4a7c15ull;
  r.events = 1000 + seed;
  r.simulated_ns = 6'000'000'000 + static_cast<int64_t>(seed);
  r.messages = 100 + seed;
  r.disk_writes = 10 + seed;
  r.coverage[static_cast<size_t>(CoveragePath::kRefill)] = seed % 3;
  r.repro = absl::StrCat("walle-sim run --workload protocol --seed ", seed, " --trace");
  return r;
}

SeedResult failing_seed(uint64_t seed) {
  SeedResult r = make_seed(seed);
  r.verdict = Verdict::kFail;
  r.invariant = "at 1.5s: durability: entry 5 \"lost\"\nafter a crash";
  return r;
}

TEST(SweepResults, SeedLinesRoundTrip) {
  SeedResult seed = failing_seed(43);
  seed.verdict = Verdict::kNondeterministic;
  seed.other_digest = 7;
  const std::string line = seed_json(seed);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_THAT(line, HasSubstr(R"("type":"seed","seed":43,"verdict":"nondeterministic")"));
  EXPECT_THAT(line, HasSubstr(R"("coverage":{"refill":1})"));  // the nonzero counts only
  absl::StatusOr<ResultLine> parsed = parse_result_line(line);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const SeedResult& back = std::get<SeedResult>(*parsed);
  EXPECT_EQ(back.seed, seed.seed);
  EXPECT_EQ(back.verdict, seed.verdict);
  EXPECT_EQ(back.invariant, seed.invariant);
  EXPECT_EQ(back.setup, seed.setup);
  EXPECT_EQ(back.digest, seed.digest);
  EXPECT_EQ(back.other_digest, seed.other_digest);
  EXPECT_EQ(back.events, seed.events);
  EXPECT_EQ(back.simulated_ns, seed.simulated_ns);
  EXPECT_EQ(back.messages, seed.messages);
  EXPECT_EQ(back.disk_writes, seed.disk_writes);
  EXPECT_EQ(back.coverage, seed.coverage);
  EXPECT_EQ(back.repro, seed.repro);
}

SweepRecord make_sweep(uint64_t first, uint64_t last, Shard shard) {
  SweepRecord r;
  r.workload = "protocol";
  r.params = {{"members", "5"}};
  r.first_seed = first;
  r.last_seed = last;
  r.shard = shard;
  r.summary.wall_s = 1.25;
  return r;
}

TEST(SweepResults, SummaryLinesRoundTrip) {
  SweepRecord sweep = make_sweep(1, 200, Shard{2, 4});
  add_seed(sweep.summary, make_seed(3));
  add_seed(sweep.summary, failing_seed(7));
  absl::StatusOr<ResultLine> parsed = parse_result_line(sweep_json(sweep));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const SweepRecord& back = std::get<SweepRecord>(*parsed);
  EXPECT_EQ(back.workload, "protocol");
  EXPECT_EQ(back.params, sweep.params);
  EXPECT_EQ(back.first_seed, 1u);
  EXPECT_EQ(back.last_seed, 200u);
  EXPECT_EQ(back.shard, (Shard{2, 4}));
  EXPECT_EQ(back.summary.seeds_done, 2u);
  EXPECT_EQ(back.summary.failures, 1u);
  EXPECT_EQ(back.summary.events, sweep.summary.events);
  EXPECT_EQ(back.summary.simulated_ns, sweep.summary.simulated_ns);
  EXPECT_DOUBLE_EQ(back.summary.wall_s, 1.25);
  EXPECT_EQ(back.summary.coverage, sweep.summary.coverage);
  EXPECT_EQ(back.summary.coverage_seeds, sweep.summary.coverage_seeds);
}

TEST(SweepResults, RejectsLinesItDidNotWrite) {
  const std::string good = seed_json(make_seed(5));
  auto error_of = [](const std::string& line) {
    absl::StatusOr<ResultLine> parsed = parse_result_line(line);
    return parsed.ok() ? std::string("ok") : std::string(parsed.status().message());
  };
  EXPECT_EQ(error_of(good), "ok");
  EXPECT_THAT(error_of("[1]"), HasSubstr("JSON object"));
  EXPECT_THAT(error_of(R"({"type":"other"})"), HasSubstr("unknown \"type\""));
  std::string no_digest = good;
  no_digest.replace(no_digest.find("\"digest\""), 8, "\"digestX\"");
  EXPECT_THAT(error_of(no_digest), HasSubstr("\"digest\""));
  std::string bad_verdict = good;
  bad_verdict.replace(bad_verdict.find("\"pass\""), 6, "\"fail\"");  // fail, no invariant
  EXPECT_THAT(error_of(bad_verdict), HasSubstr("disagrees"));
  std::string bad_path = good;
  bad_path.replace(bad_path.find("\"refill\""), 8, "\"refilll\"");
  EXPECT_THAT(error_of(bad_path), HasSubstr("unknown coverage path 'refilll'"));
}

// Results files in memory: each a list of lines.
using Files = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The JSON lines of sweeping `first..last` in `count` shards; `fail` fails those seeds.
Files sharded(uint64_t first, uint64_t last, uint64_t count, std::vector<uint64_t> fail = {}) {
  Files files;
  for (uint64_t index = 0; index < count; ++index) {
    SweepRecord sweep = make_sweep(first, last, Shard{index, count});
    std::vector<std::string> lines;
    const SeedSequence seeds = shard_seeds(first, last, sweep.shard);
    for (uint64_t i = seeds.count; i-- > 0;) {  // finish order need not be seed order
      const uint64_t seed = seeds.at(i);
      const bool fails = std::find(fail.begin(), fail.end(), seed) != fail.end();
      const SeedResult result = fails ? failing_seed(seed) : make_seed(seed);
      add_seed(sweep.summary, result);
      lines.push_back(seed_json(result));
    }
    lines.push_back(sweep_json(sweep));
    files.emplace_back(absl::StrCat("shard-", index, ".jsonl"), std::move(lines));
  }
  return files;
}

Report merge(const Files& files) {
  ReportBuilder builder;
  for (const auto& [name, lines] : files) {
    builder.begin_file(name);
    for (const std::string& line : lines) {
      const absl::Status s = builder.add_line(line);
      EXPECT_TRUE(s.ok()) << s;
    }
  }
  return builder.finish();
}

TEST(SweepReport, ShardsMergeToTheUnshardedSweep) {
  const Report whole = merge(sharded(1, 50, 1, {7, 30}));
  const Report shards = merge(sharded(1, 50, 4, {7, 30}));
  for (const Report* r : {&whole, &shards}) {
    EXPECT_EQ(r->summary.seeds_done, 50u);
    EXPECT_EQ(r->summary.failures, 2u);
    EXPECT_EQ(r->missing, 0u);
    EXPECT_TRUE(r->problems.empty()) << r->problems.front();
    EXPECT_EQ(report_exit_status(*r), 1);
    ASSERT_EQ(r->failures.size(), 2u);
    EXPECT_EQ(r->failures[0].seed, 7u);
    EXPECT_EQ(r->failures[1].seed, 30u);
  }
  EXPECT_EQ(shards.digest, whole.digest);
  EXPECT_EQ(shards.summary.events, whole.summary.events);
  EXPECT_EQ(shards.summary.simulated_ns, whole.summary.simulated_ns);
  EXPECT_EQ(shards.summary.coverage, whole.summary.coverage);
  EXPECT_EQ(shards.summary.coverage_seeds, whole.summary.coverage_seeds);
  EXPECT_DOUBLE_EQ(shards.summary.wall_s, 4 * 1.25);  // shard-seconds
  EXPECT_DOUBLE_EQ(shards.slowest_wall_s, 1.25);
  EXPECT_EQ(report_exit_status(merge(sharded(1, 50, 4))), 0);
}

TEST(SweepReport, FindsADroppedSeed) {
  Files files = sharded(1, 40, 4);
  files[2].second.erase(files[2].second.begin() + 3);  // one seed line of shard 2
  const Report r = merge(files);
  EXPECT_EQ(r.missing, 1u);
  EXPECT_EQ(report_exit_status(r), 1);
  EXPECT_NE(r.digest, merge(sharded(1, 40, 4)).digest);
}

TEST(SweepReport, NamesAnAbsentShard) {
  Files files = sharded(1, 40, 4);
  files.erase(files.begin() + 1);
  const Report r = merge(files);
  EXPECT_EQ(r.missing, 10u);
  EXPECT_THAT(r.missing_examples, ElementsAre(2, 6, 10, 14, 18, 22, 26, 30, 34, 38));
  EXPECT_THAT(r.absent_shards, ElementsAre("1/4"));
  EXPECT_EQ(report_exit_status(r), 1);
}

TEST(SweepReport, SeedsInTwoFilesAreBadInput) {
  Files files = sharded(1, 40, 4);
  files[1].second.insert(files[1].second.begin(), files[0].second.front());
  const Report r = merge(files);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("is in both shard-0.jsonl and "
                                                      "shard-1.jsonl")));
  EXPECT_EQ(report_exit_status(r), 2);
}

TEST(SweepReport, DifferentParamsAreBadInput) {
  Files files = sharded(1, 40, 2);
  SweepRecord other = make_sweep(1, 40, Shard{1, 2});
  other.params["members"] = "3";
  files[1].second.back() = sweep_json(other);
  const Report r = merge(files);
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("members=3")));
  EXPECT_EQ(report_exit_status(r), 2);
}

TEST(SweepReport, AFileWithoutSummaryIsBadInput) {
  Files files = sharded(1, 40, 2);
  files[0].second.pop_back();
  const Report r = merge(files);
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("shard-0.jsonl: no summary line")));
  EXPECT_EQ(report_exit_status(r), 2);
}

TEST(SweepReport, ASeedOutsideItsShardIsBadInput) {
  Files files = sharded(1, 40, 2);
  files[0].second.insert(files[0].second.begin(), seed_json(make_seed(99)));
  const Report r = merge(files);
  EXPECT_THAT(r.problems, testing::Contains(HasSubstr("seed 99 in shard-0.jsonl is not in")));
}

TEST(SweepReport, AResumedSweepCountsARerunSeedOnce) {
  Files files = sharded(1, 20, 1);
  std::vector<std::string>& lines = files[0].second;
  lines.insert(lines.begin() + 5, lines.back());  // the first run's summary ...
  lines.push_back(lines[2]);                      // ... and two seeds it ran again
  lines.push_back(lines[3]);
  lines.push_back(sweep_json(make_sweep(1, 20, Shard{0, 1})));
  const Report r = merge(files);
  EXPECT_EQ(r.summary.seeds_done, 20u);
  EXPECT_EQ(r.reruns, 2u);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(report_exit_status(r), 0);
}

TEST(SweepReport, ARerunWithAnotherDigestIsNondeterminism) {
  Files files = sharded(1, 20, 1);
  SeedResult again = make_seed(4);
  again.digest ^= 1;
  files[0].second.insert(files[0].second.end() - 1, seed_json(again));
  const Report r = merge(files);
  EXPECT_EQ(r.summary.determinism_mismatches, 1u);
  EXPECT_EQ(report_exit_status(r), 1);
}

TEST(SweepReport, AMalformedLineNamesFileAndLine) {
  ReportBuilder builder;
  builder.begin_file("a.jsonl");
  EXPECT_TRUE(builder.add_line(seed_json(make_seed(1))).ok());
  EXPECT_TRUE(builder.add_line("").ok());  // blank lines are skipped
  const absl::Status s = builder.add_line(R"({"type":"seed","seed":2)");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("a.jsonl:3: "));
}

}  // namespace
}  // namespace walle::sim
