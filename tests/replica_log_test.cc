// ReplicaLog: the put/commit decision table, row by row, including the fixes for the
// original's Q-2 (gap commits keep stale entries) and Q-3 (a committed put refused forever).

#include "core/protocol/replica_log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

using storage::testing::make_entry;
using storage::testing::StoreHarness;

constexpr WriterId kOld{1, 1};
constexpr WriterId kNew{2, 2};

class ReplicaLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(h_.open().ok());
    log_ = std::make_unique<ReplicaLog>(h_.store());
  }
  storage::StreamStore& store() { return h_.store(); }
  // Entries 1..n from writer kOld, the first `committed` of them committed.
  void fill(uint64_t n, uint64_t committed) {
    for (uint64_t id = 1; id <= n; ++id) {
      ASSERT_TRUE(log_->put(next(id, kOld), id <= committed).status.ok()) << id;
    }
  }
  Entry next(uint64_t id, WriterId writer, uint64_t salt = 0) {
    return make_entry(id, store().head(id - 1)->checksum, 40, salt, writer);
  }
  void set_stored_writer(WriterId writer) {
    storage::StreamMeta meta = store().meta();
    meta.writer = writer;
    ASSERT_TRUE(h_.run_io([&](IoDone d) { store().update_meta(meta, std::move(d)); }).ok());
  }

  StoreHarness h_;
  std::unique_ptr<ReplicaLog> log_;
};

TEST_F(ReplicaLogTest, InOrderPutsAppendAndCommitPointsAdvance) {
  fill(5, 3);
  EXPECT_EQ(store().tail_id(), 5u);
  EXPECT_EQ(store().committed_id(), 3u);
  EXPECT_TRUE(log_->commit(5, store().head(5)->checksum).ok());
  EXPECT_EQ(store().committed_id(), 5u);
}

TEST_F(ReplicaLogTest, SupersededWriterIsRefusedFinally) {
  set_stored_writer(kNew);
  PutResult r = log_->put(make_entry(1, 0, 40, 0, kOld), false);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReplicaLogTest, UncommittedPutBeyondTheTailIsOutOfRange) {
  fill(2, 2);
  Entry far = make_entry(9, 123, 40, 0, kOld);
  EXPECT_EQ(log_->put(far, false).status.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ReplicaLogTest, CommittedPutBeyondTheTailIsAGapCommit) {
  fill(2, 2);
  PutResult r = log_->put(make_entry(9, 123, 40, 0, kOld), true);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, PutOutcome::kGapCommit);
  EXPECT_EQ(store().committed_id(), 9u);
  EXPECT_EQ(store().missing().to_string(), "{[3,9)}");
}

TEST_F(ReplicaLogTest, GapCommitDropsUncommittedEntriesOfTheSameWriterToo) {
  // the original kept them when the writer was unchanged.
  fill(6, 2);
  PutResult r = log_->put(make_entry(9, 777, 40, 0, kOld), true);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(store().tail_id(), 9u);
  EXPECT_FALSE(store().head(5).has_value());
  EXPECT_EQ(store().missing().to_string(), "{[3,9)}");
}

TEST_F(ReplicaLogTest, PutBelowTheCommittedIdIsOutOfRange) {
  fill(4, 4);
  EXPECT_EQ(log_->put(make_entry(2, 0, 40, 0, kOld), false).status.code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(ReplicaLogTest, PutAtTheCommittedIdMustMatchAndCanRestamp) {
  fill(4, 4);
  auto stored = h_.read(4, 5);
  ASSERT_TRUE(stored.ok());
  Entry same = (*stored)[0];
  EXPECT_EQ(log_->put(same, true).outcome, PutOutcome::kNone);  // same writer: no-op
  same.writer = kNew;
  PutResult r = log_->put(same, true);
  EXPECT_EQ(r.outcome, PutOutcome::kRestamped);
  EXPECT_EQ(store().head(4)->writer, kNew);
  Entry different = same;
  different.checksum ^= 1;
  EXPECT_EQ(log_->put(different, true).status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(log_->put(different, false).status.code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ReplicaLogTest, ChainMismatchIsRetryableUncommittedAndDataLossIntoCommittedHistory) {
  fill(3, 3);
  Entry foreign = make_entry(4, 999, 40, 0, kOld);  // does not chain from entry 3
  EXPECT_EQ(log_->put(foreign, false).status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(log_->put(foreign, true).status.code(), absl::StatusCode::kDataLoss);
}

TEST_F(ReplicaLogTest, CommittedEntryThatDoesNotChainToAnUncommittedSuffixJumpsAhead) {
  fill(5, 2);
  Entry foreign = make_entry(5, 999, 40, 0, kNew);  // committed elsewhere, different history
  PutResult r = log_->put(foreign, true);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, PutOutcome::kGapCommit);
  EXPECT_EQ(store().committed_id(), 5u);
  EXPECT_EQ(store().head(5)->checksum, foreign.checksum);
}

TEST_F(ReplicaLogTest, NewerWriterReplacesTheUncommittedSuffix) {
  fill(6, 2);
  Entry replacement = next(4, kNew, /*salt=*/5);
  PutResult r = log_->put(replacement, false);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, PutOutcome::kReplaced);
  EXPECT_EQ(store().tail_id(), 4u);
  EXPECT_EQ(store().head(4)->checksum, replacement.checksum);
}

TEST_F(ReplicaLogTest, OlderWriterCannotReplaceButCanCommitTheSameEntry) {
  fill(4, 1);
  // Entry 3 gets re-stamped by a newer writer (a claim in progress).
  auto stored = h_.read(3, 4, UINT64_MAX, true);
  ASSERT_TRUE(stored.ok());
  Entry three = (*stored)[0];
  three.writer = kNew;
  ASSERT_EQ(log_->put(three, false).outcome, PutOutcome::kRestamped);
  // the old writer's committed put of that same entry now commits it, instead of being
  // refused as "writer too old" forever.
  Entry old_three = three;
  old_three.writer = kOld;
  PutResult r = log_->put(old_three, true);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(store().committed_id(), 3u);
  EXPECT_EQ(store().head(3)->writer, kNew);
  // The re-stamp dropped entry 4; the older writer cannot extend the newer writer's tail.
  Entry other = make_entry(4, three.checksum, 40, 9, kOld);
  EXPECT_EQ(log_->put(other, false).status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReplicaLogTest, CommitChecksItsTarget) {
  fill(4, 1);
  EXPECT_EQ(log_->commit(9, 0).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(log_->commit(3, 12345).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(log_->commit(1, 0).ok());  // at or below C: nothing to check
  EXPECT_TRUE(log_->commit(3, store().head(3)->checksum).ok());
  EXPECT_EQ(store().committed_id(), 3u);
}

TEST_F(ReplicaLogTest, EntryZeroAndOversizedEntriesAreInvalid) {
  EXPECT_EQ(log_->put(Entry{}, true).status.code(), absl::StatusCode::kInvalidArgument);
  Entry big = make_entry(1, 0, 4096, 0, kOld);
  EXPECT_EQ(log_->put(big, false).status.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walle::protocol
