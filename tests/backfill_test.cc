// Backfill: a member that missed entries catches up from its peers while the writer goes on
// (fast-forward to the announced commit point, then refill of the ids jumped over).

#include "core/protocol/backfill.h"

#include <optional>

#include "core/protocol/member_node.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/protocol_harness.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

constexpr NodeId kClient = 3;
constexpr int64_t kLeaseNs = 200 * kNanosPerMilli;

class BackfillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = testing::make_cluster(1, kLeaseNs);
    ASSERT_NE(sim_, nullptr);
    testing::become_writer(*sim_, kClient, kLeaseNs);
  }
  MemberNode& member(NodeId m) { return *sim_->node_as<MemberNode>(m); }
  storage::StreamStore& store(NodeId m) { return *member(m).store("s"); }
  void write(int count) { testing::write_committed(*sim_, kClient, count); }
  std::vector<Entry> read_committed(NodeId m) {
    return testing::read_committed(*sim_, store(m), 1, store(m).committed_id() + 1);
  }

  std::unique_ptr<sim::Simulation> sim_;
};

TEST_F(BackfillTest, AMemberThatMissedEntriesCatchesUpFromItsPeers) {
  write(5);
  ASSERT_TRUE(sim_->crash(2).ok());
  write(40);  // members 0 and 1 commit them without member 2
  ASSERT_TRUE(sim_->start(2).ok());
  sim_->run_for(10 * kNanosPerMilli);
  // Member 2 is behind the writer's commit point: the writer's puts do not chain onto its tail,
  // and the writer keeps no committed entries to resend. Backfill brings it up.
  write(5);
  sim_->run_for(kNanosPerSecond);
  EXPECT_EQ(store(2).committed_id(), store(0).committed_id());
  EXPECT_TRUE(store(2).missing().empty()) << store(2).missing().to_string();
  EXPECT_GT(member(2).replica("s")->backfill().fetched_entries(), 0u);
  std::vector<Entry> reference = read_committed(0);
  std::vector<Entry> refilled = read_committed(2);
  ASSERT_EQ(refilled.size(), reference.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    EXPECT_EQ(refilled[i].checksum, reference[i].checksum) << i;
  }
}

TEST_F(BackfillTest, AWipedMemberRefillsTheWholeCommittedHistory) {
  write(30);
  sim_->run_for(kLeaseNs);  // the commit point reaches the members
  std::vector<Entry> reference = read_committed(0);
  ASSERT_EQ(reference.size(), 30u);
  // Member 2 loses its disk: the writer's next commit point makes it fast-forward (ids 1..32
  // become missing, never served) and refill them from its peers.
  ASSERT_TRUE(sim_->crash(2).ok());
  ASSERT_TRUE(sim_->wipe(2).ok());
  ASSERT_TRUE(sim_->start(2).ok());
  sim_->run_for(10 * kNanosPerMilli);
  write(3);
  sim_->run_for(kNanosPerSecond);
  EXPECT_EQ(store(2).committed_id(), 33u);
  EXPECT_TRUE(store(2).missing().empty()) << store(2).missing().to_string();
  std::vector<Entry> refilled = read_committed(2);
  ASSERT_EQ(refilled.size(), 33u);
  for (size_t i = 0; i < reference.size(); ++i) {
    EXPECT_EQ(refilled[i].checksum, reference[i].checksum) << i;
  }
}

}  // namespace
}  // namespace walle::protocol

namespace walle::protocol {
namespace {

TEST_F(BackfillTest, AMemberLearnsOfCommitsNoWriterAnnouncedToIt) {
  ASSERT_TRUE(sim_->crash(2).ok());
  write(10);
  sim_->run_for(kLeaseNs);  // the commit point reaches members 0 and 1
  sim_->node_as<testing::ClientNode>(kClient)->writer.reset();  // the writer goes away
  ASSERT_TRUE(sim_->start(2).ok());
  // Nobody announces anything to member 2 any more; its periodic probe of a peer's commit
  // point makes it catch up, so the entries are on all three members again.
  sim_->run_for(3 * kNanosPerSecond);
  EXPECT_EQ(store(2).committed_id(), 10u);
  EXPECT_EQ(read_committed(2).size(), 10u);
}

}  // namespace
}  // namespace walle::protocol
