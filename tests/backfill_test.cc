// Backfill: a member that missed entries catches up from its peers while the writer goes on
// (fast-forward to the announced commit point, then refill of the ids jumped over).

#include "core/protocol/backfill.h"

#include <optional>

#include "core/protocol/member_node.h"
#include "core/wire/codec.h"
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
    testing::become_writer(*sim_, kClient);
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
  sim_->node_as<testing::ClientNode>(kClient)->client.drop_writer(
      "s", absl::CancelledError("the writer goes away"));
  ASSERT_TRUE(sim_->start(2).ok());
  // Nobody announces anything to member 2 any more; its periodic probe of a peer's commit
  // point makes it catch up, so the entries are on all three members again.
  sim_->run_for(3 * kNanosPerSecond);
  EXPECT_EQ(store(2).committed_id(), 10u);
  EXPECT_EQ(read_committed(2).size(), 10u);
}

}  // namespace
}  // namespace walle::protocol

namespace walle::protocol {
namespace {

// Minimal case of sweep seed 20728: a member back from a crash that cost it a committed entry
// and a long stretch of the history, fetched one entry per chunk while a reader's poll waits
// on it. Each chunk answered the poll, whose read woke the backfill for the missing entry a
// full delay later, and that later run held back the one due after the chunk's sync: one
// entry per 100 ms. And the missing entry waited behind the whole fast-forward, which a busy
// writer keeps going: the seed ended its heal window with the entry still missing.
TEST(BackfillChunks, AHoleAndALongFastForwardTakeTurnsAtChunkSpeedWhileAPollWaits) {
  ReplicaOptions replica;
  replica.backfill.chunk_entries = 1;
  std::unique_ptr<sim::Simulation> sim = testing::make_cluster(1, kLeaseNs, replica);
  ASSERT_NE(sim, nullptr);
  testing::become_writer(*sim, kClient);
  auto store = [&sim](NodeId m) -> storage::StreamStore* {
    return sim->node_as<MemberNode>(m)->store("s");
  };
  const std::vector<uint64_t> first = testing::write_committed(*sim, kClient, 10);
  sim->run_for(kLeaseNs);  // the commit point reaches member 2
  testing::write_committed(*sim, kClient, 1);  // whose sync makes it durable there
  ASSERT_GE(store(2)->committed_id(), 10u);
  ASSERT_TRUE(sim->crash(2).ok());
  storage::testing::rot_entry_record(sim->disk(2), first[4]);  // committed entry 5
  testing::write_committed(*sim, kClient, 59);
  ASSERT_TRUE(sim->start(2).ok());
  while (store(2) == nullptr && sim->step()) {
  }
  ASSERT_NE(store(2), nullptr);
  ASSERT_TRUE(store(2)->missing().contains(5))
      << store(2)->missing().to_string() << " " << store(2)->recovery_report().describe();
  // A tailing reader keeps a poll for the next committed entry parked on member 2: each
  // fast-forward chunk answers it, and the reader polls again.
  testing::ClientNode& client = *sim->node_as<testing::ClientNode>(kClient);
  uint64_t polled_from = 0;
  auto step = [&] {
    if (store(2)->committed_id() + 1 != polled_from) {
      polled_from = store(2)->committed_id() + 1;
      client.env.transport.send(2, wire::encode(ReadRequest{"s", polled_from, polled_from,
                                                            polled_from + 100, 1 << 20, false,
                                                            10 * kNanosPerSecond}));
    }
    return sim->step();
  };
  testing::write_committed(*sim, kClient, 1);  // announces commit point 71 to member 2
  // The hole is refilled while the fast-forward is still under way, not after it.
  int64_t deadline_ns = sim->now_ns() + 2 * kNanosPerSecond;
  while (store(2)->missing().contains(5) && sim->now_ns() < deadline_ns && step()) {
  }
  EXPECT_FALSE(store(2)->missing().contains(5)) << "entry 5 still missing on member 2";
  EXPECT_LT(store(2)->committed_id(), 71u) << "the refill waited for the fast-forward";
  // 60 one-entry chunks, each a round trip and a sync: well under a second (at one per
  // 100 ms they took six).
  deadline_ns = sim->now_ns() + kNanosPerSecond;
  while (sim->now_ns() < deadline_ns && step()) {
  }
  EXPECT_EQ(store(2)->committed_id(), 71u);
  EXPECT_TRUE(store(2)->missing().empty()) << store(2)->missing().to_string();
}

}  // namespace
}  // namespace walle::protocol

namespace walle::protocol {
namespace {

// A member whose both metadata copies are unreadable lost its promises: it stays out (keeps
// retrying the open, and says why), and the other two go on committing without it.
TEST_F(BackfillTest, AMemberThatLostBothMetadataCopiesStaysOutAndSaysWhy) {
  write(5);
  ASSERT_TRUE(sim_->crash(2).ok());
  ASSERT_TRUE(sim_->disk(2).add_latent_error("s.meta", 0).ok());
  ASSERT_TRUE(sim_->disk(2).add_latent_error("s.meta2", 0).ok());
  ASSERT_TRUE(sim_->start(2).ok());
  sim_->run_for(kNanosPerSecond);  // several reopen attempts
  EXPECT_EQ(member(2).store("s"), nullptr);
  const absl::Status why = member(2).open_failure("s");
  EXPECT_TRUE(storage::lost_metadata(why)) << why;
  EXPECT_TRUE(member(0).open_failure("s").ok());
  write(5);  // committed by members 0 and 1 (write() checks the writer saw it)
  sim_->run_for(kLeaseNs);  // the commit point reaches them
  EXPECT_EQ(store(0).committed_id(), 10u);
}

}  // namespace
}  // namespace walle::protocol
