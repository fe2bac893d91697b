// Reader: committed entries from any member, tailing reads that wait for new commits, and
// reads that need no lease.

#include "core/protocol/reader.h"

#include <optional>

#include "core/protocol/member_node.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/protocol_harness.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

using testing::ClientNode;

constexpr NodeId kWriter = 3;
constexpr NodeId kReader = 4;
constexpr int64_t kLeaseNs = 200 * kNanosPerMilli;

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = testing::make_cluster(2, kLeaseNs);
    ASSERT_NE(sim_, nullptr);
    testing::become_writer(*sim_, kWriter);
    client(kReader).open_reader();
  }
  ClientNode& client(NodeId id) { return *sim_->node_as<ClientNode>(id); }
  Reader& reader() { return *client(kReader).reader; }

  // Writes `count` entries and waits until they are committed and announced.
  std::vector<uint64_t> write(int count) {
    std::vector<uint64_t> checksums = testing::write_committed(*sim_, kWriter, count);
    sim_->run_for(kLeaseNs / 2);  // the commit point reaches the members
    return checksums;
  }
  void start_read(uint64_t from, int64_t wait_ns) {
    result_.reset();
    EXPECT_TRUE(reader()
                    .read(from, wait_ns,
                          [this](absl::StatusOr<std::vector<Entry>> r) { result_ = std::move(r); })
                    .ok());
  }
  absl::StatusOr<std::vector<Entry>> finish_read() {
    while (!result_ && sim_->step()) {
    }
    EXPECT_TRUE(result_.has_value());
    return result_.value_or(absl::InternalError("no answer"));
  }

  std::unique_ptr<sim::Simulation> sim_;
  std::optional<absl::StatusOr<std::vector<Entry>>> result_;
};

TEST_F(ReaderTest, ReadsCommittedEntriesInOrder) {
  std::vector<uint64_t> checksums = write(20);
  start_read(1, 0);
  absl::StatusOr<std::vector<Entry>> entries = finish_read();
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ((*entries)[i].id, i + 1);
    EXPECT_EQ((*entries)[i].checksum, checksums[i]);
  }
}

TEST_F(ReaderTest, ATailingReadWaitsForTheNextCommit) {
  write(5);
  start_read(6, 2 * kNanosPerSecond);
  sim_->run_for(300 * kNanosPerMilli);
  EXPECT_FALSE(result_.has_value());  // nothing at 6 yet: the member holds the read
  std::vector<uint64_t> checksums = write(1);
  absl::StatusOr<std::vector<Entry>> entries = finish_read();
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().checksum, checksums[0]);
  EXPECT_LT(sim_->now_ns(), 2 * kNanosPerSecond);  // answered by the commit, not the timeout
}

TEST_F(ReaderTest, AWaitThatEndsWithNothingNewIsNotAnError) {
  write(3);
  start_read(4, 100 * kNanosPerMilli);
  absl::StatusOr<std::vector<Entry>> entries = finish_read();
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_TRUE(entries->empty());
}

TEST_F(ReaderTest, PresentDataIsServedWithoutALease) {
  // the original's PollStream failed once the writer's lease had expired, even for
  // data the member held. The writer goes away; its lease runs out; reads still work.
  std::vector<uint64_t> checksums = write(4);
  client(kWriter).client.drop_writer("s", absl::CancelledError("the writer goes away"));
  sim_->run_for(5 * kLeaseNs);
  start_read(2, kNanosPerSecond);
  absl::StatusOr<std::vector<Entry>> entries = finish_read();
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ(entries->back().checksum, checksums[3]);
}

TEST_F(ReaderTest, AMemberThatCannotServeIsSkipped) {
  write(10);
  ASSERT_TRUE(sim_->crash(0).ok());
  ASSERT_TRUE(sim_->crash(1).ok());
  // Whichever member the reader asks first, it ends at member 2.
  start_read(1, 0);
  absl::StatusOr<std::vector<Entry>> entries = finish_read();
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ(entries->size(), 10u);
}

}  // namespace
}  // namespace walle::protocol
