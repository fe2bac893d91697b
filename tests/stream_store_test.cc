// StreamStore: the storage engine's contract, case by case (the property test in
// stream_store_property_test.cc explores random sequences).

#include "core/storage/stream_store.h"
#include "core/storage/store_files.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/sim_buggify.h"
#include "tests/storage_harness.h"

namespace walle::storage::testing {
namespace {

using ::testing::HasSubstr;

// Appends entries first..last chained from the store's tail.
void append_range(StoreHarness& h, uint64_t first, uint64_t last, size_t size = 40) {
  for (uint64_t id = first; id <= last; ++id) {
    const uint64_t previous = h.store().head(id - 1)->checksum;
    ASSERT_TRUE(h.store().append(make_entry(id, previous, size)).ok()) << id;
  }
}

TEST(StreamStore, NewStreamHoldsCommittedEntryZero) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  EXPECT_EQ(h.store().committed_id(), 0u);
  EXPECT_EQ(h.store().tail_id(), 0u);
  auto entries = h.read(0, 1);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0], entry_zero());
}

TEST(StreamStore, SyncedEntriesSurviveEveryKindOfCrash) {
  for (sim::CrashMode mode :
       {sim::CrashMode::kLoseAll, sim::CrashMode::kTorn, sim::CrashMode::kKeepAll}) {
    StoreHarness h;
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 300);  // several segments of 8 KiB
    ASSERT_TRUE(h.store().commit(250).ok());
    ASSERT_TRUE(h.sync().ok());
    std::vector<Entry> before = *h.read_all(0, 301, true);
    ASSERT_TRUE(h.crash_and_reopen(mode).ok());
    EXPECT_EQ(h.store().committed_id(), 250u);
    EXPECT_EQ(h.store().tail_id(), 300u);
    auto after = h.read_all(0, 301, true);
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(*after, before);
    EXPECT_TRUE(h.store().missing().empty());
  }
}

TEST(StreamStore, UnsyncedAppendsAreLostOrKeptButNeverCommittedBeyondWhatWasWritten) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    StoreHarness h(StoreHarness::default_config(seed));
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 50);
    ASSERT_TRUE(h.store().commit(40).ok());
    ASSERT_TRUE(h.sync().ok());
    append_range(h, 51, 100);
    ASSERT_TRUE(h.store().commit(100).ok());
    append_range(h, 101, 120);
    // No sync: a crash decides.
    ASSERT_TRUE(h.crash_and_reopen().ok()) << seed;
    StreamStore& s = h.store();
    EXPECT_GE(s.committed_id(), 40u) << seed;
    EXPECT_LE(s.committed_id(), 100u) << seed;
    EXPECT_GE(s.tail_id(), 50u) << seed;
    auto entries = h.read_all(0, s.tail_id() + 1, true);
    ASSERT_TRUE(entries.ok()) << seed << ": " << entries.status();
    // Whatever survived is the prefix that was written, chained.
    uint64_t previous = 0;
    for (const Entry& e : *entries) {
      if (e.id > 0) {
        EXPECT_EQ(e, make_entry(e.id, previous)) << seed;
      }
      previous = e.checksum;
    }
    EXPECT_EQ(entries->size(), s.tail_id() + 1) << seed;
  }
}

TEST(StreamStore, TruncatedEntriesDoNotComeBackAfterACrash) {
  for (sim::CrashMode mode :
       {sim::CrashMode::kLoseAll, sim::CrashMode::kTorn, sim::CrashMode::kKeepAll}) {
    StoreHarness h;
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 30);
    ASSERT_TRUE(h.store().commit(10).ok());
    ASSERT_TRUE(h.sync().ok());
    ASSERT_TRUE(h.store().truncate_after(20).ok());
    // A newer writer's entries replace 21..
    for (uint64_t id = 21; id <= 25; ++id) {
      ASSERT_TRUE(
          h.store().append(make_entry(id, h.store().head(id - 1)->checksum, 40, 99, {2, 2})).ok());
    }
    ASSERT_TRUE(h.sync().ok());
    ASSERT_TRUE(h.crash_and_reopen(mode).ok());
    EXPECT_EQ(h.store().tail_id(), 25u);
    auto entries = h.read_all(0, 26, true);
    ASSERT_TRUE(entries.ok()) << entries.status();
    ASSERT_EQ(entries->size(), 26u);
    EXPECT_EQ((*entries)[21].writer, (WriterId{2, 2}));
    EXPECT_EQ(h.store().committed_id(), 10u);
  }
}

TEST(StreamStore, GapCommitMakesSkippedIdsMissingAndBackfillFillsThem) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 5);
  ASSERT_TRUE(h.store().commit(5).ok());
  // The writer is at 20; entries 6..19 exist elsewhere.
  std::vector<Entry> remote;
  uint64_t previous = h.store().head(5)->checksum;
  for (uint64_t id = 6; id <= 20; ++id) {
    remote.push_back(make_entry(id, previous));
    previous = remote.back().checksum;
  }
  ASSERT_TRUE(h.store().append_committed(remote.back()).ok());
  EXPECT_EQ(h.store().committed_id(), 20u);
  EXPECT_EQ(h.store().missing().to_string(), "{[6,20)}");
  auto gap_read = h.read(6, 7);
  EXPECT_EQ(gap_read.status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().missing().to_string(), "{[6,20)}");

  uint64_t before = h.store().committed_id() >= 5 ? 0 : 0;
  (void)before;
  previous = make_entry(5, 0).checksum;  // placeholder, replaced below
  auto five = h.read(5, 6);
  ASSERT_TRUE(five.ok());
  previous = (*five)[0].checksum;
  for (uint64_t id = 6; id <= 19; ++id) {
    ASSERT_TRUE(h.store().put_backfill(remote[id - 6], previous).ok()) << id;
    previous = remote[id - 6].checksum;
  }
  EXPECT_TRUE(h.store().missing().empty());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_TRUE(h.store().missing().empty());
  auto all = h.read_all(0, 21);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 21u);
  for (uint64_t id = 6; id <= 20; ++id) EXPECT_EQ((*all)[id], remote[id - 6]);
}

// Regression (reads of the backfill log): refilled highest first, each lower id went to a new
// backfill segment; a read of 1..3 took 1, scanned on to the end of its segment for 2, and
// would only jump to a newer segment, so intact entry 2 was called corrupt and marked missing.
TEST(StreamStore, BackfillRefilledHighestFirstReadsInIdOrder) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  std::vector<Entry> remote{entry_zero()};  // the cluster's entries 1..4
  for (uint64_t id = 1; id <= 4; ++id) remote.push_back(make_entry(id, remote.back().checksum));
  ASSERT_TRUE(h.store().append_committed(remote[4]).ok());
  for (uint64_t id : {3, 2, 1}) {
    ASSERT_TRUE(h.store().put_backfill(remote[id], remote[id - 1].checksum).ok()) << id;
  }
  ASSERT_TRUE(h.sync().ok());
  for (bool crashed : {false, true}) {
    if (crashed) {
      ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    }
    auto all = h.read_all(0, 5);
    ASSERT_TRUE(all.ok()) << all.status();
    EXPECT_EQ(*all, remote);
    EXPECT_TRUE(h.store().missing().empty()) << h.store().missing().to_string();
  }
}

TEST(StreamStore, BadInputIsRefusedWithAReason) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  Entry wrong_id = make_entry(5, 0);
  EXPECT_EQ(h.store().append(wrong_id).code(), absl::StatusCode::kOutOfRange);
  Entry bad_chain = make_entry(1, 12345);
  EXPECT_THAT(h.store().append(bad_chain).message(), HasSubstr("does not chain"));
  Entry too_big = make_entry(1, 0, 2000);
  EXPECT_THAT(h.store().append(too_big).message(), HasSubstr("max_entry_bytes"));
  EXPECT_EQ(h.store().commit(3).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(h.store().truncate_after(2).code(), absl::StatusCode::kOutOfRange);
  auto past = h.read(1, 2);
  EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange);

  StoreOptions bad = small_options();
  bad.segment_bytes = 100;
  EXPECT_THAT(h.open(bad, "s2").message(), HasSubstr("segment_bytes"));
  EXPECT_THAT(h.open(small_options(), "Bad/Name").message(), HasSubstr("[a-z0-9_-]"));
}

TEST(StreamStore, DiskFullFailsTheSyncKeepsDurableDataAndRecovers) {
  sim::SimConfig config = StoreHarness::default_config();
  StoreHarness h(config);
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 20);
  ASSERT_TRUE(h.store().commit(20).ok());
  ASSERT_TRUE(h.sync().ok());
  // Fill the disk: the next segment cannot be preallocated.
  h.disk().config().capacity_bytes = h.disk().used_bytes();
  append_range(h, 21, 400);
  ASSERT_TRUE(h.store().commit(400).ok());
  absl::Status full = h.sync();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  auto durable = h.read_all(0, 21);
  ASSERT_TRUE(durable.ok());
  EXPECT_EQ(durable->size(), 21u);
  // Space returns: the queued entries are written.
  h.disk().config().capacity_bytes = 1ULL << 30;
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().committed_id(), 400u);
  auto all = h.read_all(0, 401);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 401u);
}

TEST(StreamStore, AMetadataUpdateThatCannotBeWrittenLeavesTheOldOneInPlace) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  StreamMeta meta = h.store().meta();
  meta.writer = WriterId{7, 7};
  // No room for the new metadata file: the update fails...
  h.disk().config().capacity_bytes = h.disk().used_bytes();
  absl::Status full = h.run_io([&](IoDone d) { h.store().update_meta(meta, std::move(d)); });
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  // ...and the old file still opens (an empty temp file once replaced it: the stream then
  // never opened again).
  h.disk().config().capacity_bytes = 1ULL << 30;
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().writer, WriterId{});
  ASSERT_TRUE(h.run_io([&](IoDone d) { h.store().update_meta(meta, std::move(d)); }).ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().writer, (WriterId{7, 7}));
}

TEST(StreamStore, TrimDeletesOldSegmentsAndRefusesReadsBelowIt) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 400);
  ASSERT_TRUE(h.store().commit(400).ok());
  ASSERT_TRUE(h.sync().ok());
  const size_t files_before = h.node().env.files.list().size();
  ASSERT_TRUE(h.run_io([&](IoDone d) {
                 h.store().trim(300, h.store().committed_id(), std::move(d));
               }).ok());
  EXPECT_LT(h.node().env.files.list().size(), files_before);
  EXPECT_EQ(h.read(299, 300).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().first_entry_id, 300u);
  auto kept = h.read_all(300, 401);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->size(), 101u);
}

// The newest committed entries are read starting at their own records (the store keeps their
// positions as the commit point passes them): a tailing reader's read of one entry gets that
// entry, whatever sizes surround it, and a trim forgets positions whose segments may go.
TEST(StreamStore, TheNewestCommittedEntriesAreReadFromTheirOwnRecords) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  std::vector<uint64_t> checksums = {h.store().head(0)->checksum};
  for (uint64_t id = 1; id <= 200; ++id) {
    const Entry entry = make_entry(id, checksums.back(), 20 + (id * 37) % 900);
    ASSERT_TRUE(h.store().append(entry).ok()) << id;
    checksums.push_back(entry.checksum);
    if (id % 3 == 0) {
      ASSERT_TRUE(h.store().commit(id - 1).ok());  // the commit point trails
    }
  }
  ASSERT_TRUE(h.store().commit(200).ok());
  ASSERT_TRUE(h.sync().ok());
  for (uint64_t id = 100; id <= 200; ++id) {
    auto one = h.read(id, id + 1);
    ASSERT_TRUE(one.ok()) << id << ": " << one.status();
    ASSERT_EQ(one->size(), 1u) << id;
    EXPECT_EQ((*one)[0].id, id);
    EXPECT_EQ((*one)[0].checksum, checksums[id]) << id;
  }
  auto several = h.read(190, 201);
  ASSERT_TRUE(several.ok()) << several.status();
  ASSERT_FALSE(several->empty());
  EXPECT_EQ(several->front().id, 190u);
  EXPECT_EQ(several->back().checksum, checksums[several->back().id]);
  ASSERT_TRUE(h.run_io([&](IoDone d) { h.store().trim(180, checksums[180], std::move(d)); }).ok());
  EXPECT_EQ(h.read(179, 180).status().code(), absl::StatusCode::kNotFound);
  auto after_trim = h.read(199, 200);
  ASSERT_TRUE(after_trim.ok()) << after_trim.status();
  ASSERT_EQ(after_trim->size(), 1u);
  EXPECT_EQ((*after_trim)[0].checksum, checksums[199]);
}

TEST(StreamStore, DropRemovesEveryFile) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 100);
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.run_io([&](IoDone d) { h.store().drop(std::move(d)); }).ok());
  EXPECT_TRUE(h.node().env.files.list().empty());
  EXPECT_EQ(h.store().append(make_entry(101, 0)).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(StreamStore, BitFlipInCommittedDataIsDetectedAndNeverServed) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 100);
  ASSERT_TRUE(h.store().commit(100).ok());
  ASSERT_TRUE(h.sync().ok());
  // Flip a bit inside entry 50's record in the live log (found by its unique checksum).
  auto before = h.read_all(0, 101);
  ASSERT_TRUE(before.ok());
  rot_entry_record(h.disk(), (*before)[50].checksum);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_TRUE(h.store().missing().contains(50)) << h.store().missing().to_string();
  EXPECT_TRUE(h.store().recovery_report().corrupt_committed.contains(50));
  EXPECT_EQ(h.read(50, 51).status().code(), absl::StatusCode::kDataLoss);
  auto others = h.read_all(51, 101);
  ASSERT_TRUE(others.ok()) << others.status();
  EXPECT_EQ(others->size(), 50u);
}

// A sync covers the metadata in memory too: a writer change whose write failed (ENOSPC) is
// written again by the next sync, so nothing acknowledged after it outlives the change.
TEST(StreamStore, ASyncAfterAFailedMetadataWriteMakesTheMetadataDurable) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  StreamMeta meta = h.store().meta();
  meta.writer = WriterId{3, 9};
  h.disk().config().enospc_probability = 1.0;
  EXPECT_FALSE(h.run_io([&](IoDone done) { h.store().update_meta(meta, std::move(done)); }).ok());
  h.disk().config().enospc_probability = 0;
  ASSERT_TRUE(h.store().append(make_entry(1, entry_zero().checksum, 10)).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().writer, (WriterId{3, 9}));
}

// The metadata is kept twice: a latent error or rot in one copy leaves the other, with every
// acknowledged update (a writer's promise) in it; the bad copy is rewritten at open. With both
// bad the stream refuses to open and says which files to restore.
TEST(StreamStore, MetadataSurvivesABadCopyAndRefusesWhenBothAreBad) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  StreamMeta meta = h.store().meta();
  meta.writer = WriterId{7, 42};
  ASSERT_TRUE(h.run_io([&](IoDone done) { h.store().update_meta(meta, std::move(done)); }).ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  // Rot in the first copy, an unreadable sector in the second: one at a time.
  ASSERT_TRUE(h.disk().flip_bit(meta_file("s1"), 30, 1).ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().writer, (WriterId{7, 42}));
  ASSERT_TRUE(h.disk().add_latent_error(meta_copy_file("s1"), 0).ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());  // the first was rewritten
  EXPECT_EQ(h.store().meta().writer, (WriterId{7, 42}));
  ASSERT_TRUE(h.disk().flip_bit(meta_file("s1"), 30, 1).ok());
  ASSERT_TRUE(h.disk().add_latent_error(meta_copy_file("s1"), 0).ok());
  const absl::Status both_bad = h.crash_and_reopen(sim::CrashMode::kLoseAll);
  EXPECT_EQ(both_bad.code(), absl::StatusCode::kDataLoss) << both_bad;
  EXPECT_THAT(std::string(both_bad.message()), ::testing::HasSubstr("both metadata copies"));
  // Told apart from other refusals: the member must wait for an operator, not retry.
  EXPECT_TRUE(lost_metadata(both_bad));
  EXPECT_FALSE(lost_metadata(absl::DataLossError("both metadata copies are bad")));
  EXPECT_FALSE(lost_metadata(absl::ResourceExhaustedError("ENOSPC")));
}

}  // namespace
}  // namespace walle::storage::testing

namespace walle::storage::testing {
namespace {

TEST(StreamStore, FaultPointsChangeNothingThatIsReadBack) {
  uint64_t fired = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    StoreHarness h(StoreHarness::default_config(seed));
    sim::SimBuggify buggify(sim::Prng(seed), nullptr, &fired, /*enable_probability=*/1.0,
                            /*fire_probability=*/0.3);
    StoreOptions options = small_options();
    options.buggify = &buggify;
    ASSERT_TRUE(h.open(options).ok());
    std::vector<Entry> written{entry_zero()};
    for (uint64_t id = 1; id <= 200; ++id) {
      written.push_back(make_entry(id, written.back().checksum, 10 + id % 300));
      ASSERT_TRUE(h.store().append(written.back()).ok());
      if (id % 25 == 0) {
        ASSERT_TRUE(h.store().commit(id).ok());
        ASSERT_TRUE(h.sync().ok());
      }
    }
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll, options).ok());
    auto read = h.read_all(0, 201);
    ASSERT_TRUE(read.ok()) << seed << ": " << read.status();
    EXPECT_EQ(*read, written) << seed;
  }
  EXPECT_GT(fired, 0u);
}

// A flush that spans segments and fails on an older one (ENOSPC zero-filling its new file)
// must not leave a newer segment durable: recovery would find the chain broken and call every
// older segment dead, losing entries whose sync had succeeded long before.
TEST(StreamStore, AFailedFlushAcrossSegmentsLosesNoEarlierSyncedEntry) {
  uint64_t failed_syncs = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    StoreHarness h(StoreHarness::default_config(seed));
    ASSERT_TRUE(h.open().ok());
    h.disk().config().enospc_probability = 0.2;
    Entry previous = entry_zero();
    uint64_t synced_through = 0;
    for (uint64_t id = 1; id <= 200; ++id) {
      // About a kilobyte each, eight to a segment: a flush of ten spans two or three segments.
      const Entry e = make_entry(id, previous.checksum, 900 + id % 100);
      if (!h.store().append(e).ok()) break;  // the store stopped taking writes: fine
      previous = e;
      if (id % 10 != 0) continue;
      if (!h.sync().ok()) {
        ++failed_syncs;
        break;  // crash right after the failed flush, before a retry repairs it
      }
      synced_through = id;
    }
    h.disk().config().enospc_probability = 0;
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok()) << seed;
    EXPECT_GE(h.store().tail_id(), synced_through) << "seed " << seed;
    EXPECT_TRUE(h.store().missing().empty()) << "seed " << seed << ": "
                                             << h.store().missing().to_string();
  }
  EXPECT_GT(failed_syncs, 0u);
}

}  // namespace
}  // namespace walle::storage::testing

namespace walle::storage::testing {
namespace {

TEST(StreamStore, AReplacedSuffixStaysReplacedAfterACrash) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 66);
  ASSERT_TRUE(h.store().commit(50).ok());
  ASSERT_TRUE(h.sync().ok());
  // A newer writer replaces 51..66 with its own 51..59.
  ASSERT_TRUE(h.store().truncate_after(50).ok());
  uint64_t previous = h.store().head(50)->checksum;
  std::vector<uint64_t> checksums;
  for (uint64_t id = 51; id <= 59; ++id) {
    Entry e = make_entry(id, previous, 40, /*salt=*/9, WriterId{2, 2});
    previous = e.checksum;
    checksums.push_back(e.checksum);
    ASSERT_TRUE(h.store().append(e).ok()) << id;
  }
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().tail_id(), 59u);
  for (uint64_t id = 51; id <= 59; ++id) {
    auto head = h.store().head(id);
    ASSERT_TRUE(head.has_value()) << id;
    EXPECT_EQ(head->checksum, checksums[id - 51]) << id;
  }
}

}  // namespace
}  // namespace walle::storage::testing
