// Recovery tells a torn write from rot (docs/storage.md, "Torn or rotten"): damage that may
// have taken state above the commit point is reported as TailDamage, kRot when a sync mark
// proves the bytes had been durable, kUncertain when the crash may have torn them. A torn
// write is never called rot; rot is never reported as nothing.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/storage_harness.h"

namespace walle::storage::testing {
namespace {

void append_range(StoreHarness& h, uint64_t first, uint64_t last) {
  for (uint64_t id = first; id <= last; ++id) {
    ASSERT_TRUE(h.store().append(make_entry(id, h.store().head(id - 1)->checksum)).ok()) << id;
  }
}

void rot_entry(StoreHarness& h, uint64_t checksum) { rot_entry_record(h.disk(), checksum); }

uint64_t checksum_of(StoreHarness& h, uint64_t id) { return h.store().head(id)->checksum; }

// The single-member case: the head segment's last record is an acknowledged entry
// and rots; nothing was written after it, so no sync mark vouches for it. Recovery must not
// report "nothing lost": it cannot tell this from a torn write, so it says uncertain.
TEST(TornOrRotten, RotOfTheLastRecordIsUncertainNotSilentlyDropped) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 10);
  ASSERT_TRUE(h.store().commit(5).ok());
  ASSERT_TRUE(h.sync().ok());
  append_range(h, 11, 11);
  ASSERT_TRUE(h.sync().ok());  // entry 11, the last record, acknowledged here
  rot_entry(h, checksum_of(h, 11));
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  const RecoveryReport& r = h.store().recovery_report();
  EXPECT_EQ(h.store().tail_id(), 10u);
  EXPECT_GT(r.torn_tail_bytes, 0u);
  EXPECT_EQ(r.tail_damage(), TailDamage::kUncertain) << r.describe();
}

// The same rot with a later flush behind it: that flush's sync mark proves entry 10 was
// durable, so the damage is rot for sure.
TEST(TornOrRotten, RotBeforeASyncMarkIsRot) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 10);
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.store().commit(5).ok());
  ASSERT_TRUE(h.sync().ok());  // the commit record, and the mark for entries 1..10
  rot_entry(h, checksum_of(h, 10));
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  const RecoveryReport& r = h.store().recovery_report();
  EXPECT_EQ(r.tail_damage(), TailDamage::kRot) << r.describe();
  EXPECT_EQ(r.synced_damage, 1u);
}

// The claim case, on one member: synced uncommitted entries 8 and 9 rot, a commit
// record written after them is intact. A hole followed by no entry used to be no damage.
TEST(TornOrRotten, RotOfUncommittedEntriesBeforeACommitRecordIsRot) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 9);
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.store().commit(4).ok());
  ASSERT_TRUE(h.sync().ok());
  rot_entry(h, checksum_of(h, 8));
  rot_entry(h, checksum_of(h, 9));
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  const RecoveryReport& r = h.store().recovery_report();
  EXPECT_EQ(h.store().committed_id(), 4u);
  EXPECT_EQ(h.store().tail_id(), 7u);
  EXPECT_EQ(r.tail_damage(), TailDamage::kRot) << r.describe();
}

// Rot among committed entries only (a hole whose next entry is committed) takes nothing
// above the commit point: the ids become missing, the member is not damaged.
TEST(TornOrRotten, RotOfCommittedHistoryOnlyIsNotTailDamage) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 20);
  const uint64_t checksum = checksum_of(h, 10);
  ASSERT_TRUE(h.store().commit(20).ok());
  ASSERT_TRUE(h.sync().ok());
  rot_entry(h, checksum);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  const RecoveryReport& r = h.store().recovery_report();
  EXPECT_TRUE(h.store().missing().contains(10));
  EXPECT_EQ(r.tail_damage(), TailDamage::kNone) << r.describe();
}

// The liveness case: a member's gap-commit record (its only entry record after entry
// 0) rots. The commit point it established must survive (the next flush's sync mark repeats
// it), so the lost ids are missing and refilled from peers, never unknown.
TEST(TornOrRotten, RottenGapCommitLeavesItsIdsMissingNotUnknown) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  const Entry gap = make_entry(5, 77);
  ASSERT_TRUE(h.store().append_committed(gap).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.store().append(make_entry(6, gap.checksum)).ok());
  ASSERT_TRUE(h.sync().ok());
  rot_entry(h, gap.checksum);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().committed_id(), 5u);
  EXPECT_EQ(h.store().tail_id(), 6u);
  EXPECT_EQ(h.store().missing().to_string(), "{[1,6)}");
  EXPECT_EQ(h.read(5, 6).status().code(), absl::StatusCode::kDataLoss);
}

// The liveness case, second half: the committed entry (the window's first) rots and
// is refilled into the backfill log. After the next crash its checksum must be known again
// from there; before, every put chaining from it was refused as "missing here" forever.
TEST(TornOrRotten, RefilledCommittedEntryIsKnownAfterTheNextCrash) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 10);
  const Entry tenth = make_entry(10, checksum_of(h, 9));
  ASSERT_TRUE(h.store().commit(10).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.sync().ok());  // a later flush: its mark repeats the commit point
  rot_entry(h, tenth.checksum);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  ASSERT_EQ(h.store().committed_id(), 10u);
  ASSERT_TRUE(h.store().missing().contains(10)) << h.store().missing().to_string();
  ASSERT_FALSE(h.store().head(10).has_value());
  auto ninth = h.read(9, 10);
  ASSERT_TRUE(ninth.ok()) << ninth.status();
  ASSERT_TRUE(h.store().put_backfill(tenth, ninth->front().checksum).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  ASSERT_TRUE(h.store().head(10).has_value());
  EXPECT_EQ(h.store().head(10)->checksum, tenth.checksum);
  EXPECT_TRUE(h.store().append(make_entry(11, tenth.checksum)).ok());
}

// A flush torn by the crash (its fdatasync never completed) is never called rot, whatever
// the crash kept of it, and a clean crash reports nothing at all.
TEST(TornOrRotten, TornWritesAreNeverRot) {
  int uncertain = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    StoreHarness h(StoreHarness::default_config(seed));
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 30);
    ASSERT_TRUE(h.store().commit(10).ok());
    ASSERT_TRUE(h.sync().ok());
    append_range(h, 31, 60 + seed % 40);
    ASSERT_TRUE(h.store().commit(20).ok());
    h.store().sync([](absl::Status) {});  // in flight when the crash comes
    h.sim().run_for(seed % 3 == 0 ? 0 : kNanosPerMicro * (seed % 50));
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kTorn).ok());
    const RecoveryReport& r = h.store().recovery_report();
    EXPECT_NE(r.tail_damage(), TailDamage::kRot) << "seed " << seed << ": " << r.describe();
    EXPECT_GE(h.store().tail_id(), 30u) << "seed " << seed;
    uncertain += r.tail_damage() == TailDamage::kUncertain;
  }
  EXPECT_GT(uncertain, 0);  // some crash did tear the flush
}

}  // namespace
}  // namespace walle::storage::testing

namespace walle::storage::testing {
namespace {

// A latent sector error in the live log, under committed entries: reads lose only the ids
// whose records touch the bad sector (each read meets one of them), not the ids behind it up
// to the next index point; once refilled from a peer, every read of the range succeeds.
TEST(TornOrRotten, LatentErrorCostsOnlyTheIdsInItsSector) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  std::vector<Entry> written{entry_zero()};
  for (uint64_t id = 1; id <= 200; ++id) {
    written.push_back(make_entry(id, written.back().checksum));
    ASSERT_TRUE(h.store().append(written.back()).ok());
  }
  ASSERT_TRUE(h.store().commit(200).ok());
  ASSERT_TRUE(h.sync().ok());
  const auto at = find_entry_record(h.disk(), written[50].checksum);
  ASSERT_TRUE(at.has_value());
  ASSERT_TRUE(h.disk().add_latent_error(at->first, at->second).ok());
  RangeSet lost;
  for (int round = 0; round < 50; ++round) {
    auto all = h.read_all(1, 201);
    if (all.ok() && all->size() == 200) break;
    const RangeSet missing = h.store().missing();  // put_backfill shrinks the original
    for (const auto& [b, e] : missing.ranges()) {
      lost.add(b, e);
      for (uint64_t id = b; id < e; ++id) {
        ASSERT_TRUE(h.store().put_backfill(written[id], written[id - 1].checksum).ok());
      }
    }
    ASSERT_TRUE(h.sync().ok());
  }
  auto all = h.read_all(1, 201);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 200u);
  // 104-byte records: at most 6 touch one 512-byte sector.
  EXPECT_LE(lost.count(), 6u) << "lost " << lost.to_string() << " to one bad sector";
  EXPECT_TRUE(lost.contains(50));
}

}  // namespace
}  // namespace walle::storage::testing
