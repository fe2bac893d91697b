// A member whose recovery may have lost what it acknowledged must not help a claim lose it
// (docs/protocol.md, "Damaged members"); and a cluster whose members all crashed at once
// with torn tails still elects a writer.

#include <string>

#include "gtest/gtest.h"
#include "tests/protocol_harness.h"

namespace walle::protocol {
namespace {

using testing::ClientNode;

constexpr NodeId kWriter = 3;
constexpr NodeId kClaimant = 4;
constexpr int64_t kLeaseNs = 100 * kNanosPerMilli;

class DamagedMemberClaim : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = testing::make_cluster(2, kLeaseNs);
    ASSERT_NE(sim_, nullptr);
  }
  ClientNode& client(NodeId id) { return *sim_->node_as<ClientNode>(id); }
  storage::StreamStore& store(NodeId m) { return *sim_->node_as<MemberNode>(m)->store("s"); }

  // Puts `count` entries and runs only until the writer has them all acknowledged; returns
  // their checksums. Nothing after the last acknowledgement leaves the writer.
  std::vector<uint64_t> write_acknowledged(int count) {
    Writer& w = *client(kWriter).writer();
    std::vector<uint64_t> checksums;
    int acknowledged = 0;
    for (int i = 0; i < count; ++i) {
      EXPECT_TRUE(w.put("late " + std::to_string(i), [&acknowledged](absl::Status s) {
                     acknowledged += s.ok();
                   }).ok());
      checksums.push_back(w.tail_checksum());
    }
    while (acknowledged < count && sim_->step()) {
    }
    EXPECT_EQ(acknowledged, count);
    return checksums;
  }

  // Flips a bit in member m's live-log record of the entry with `checksum`.
  void rot(NodeId m, uint64_t checksum) {
    storage::testing::rot_entry_record(sim_->disk(m), checksum);
  }

  // Runs a claim by `claimant` for at most `limit_ns` of simulated time.
  std::optional<absl::StatusOr<ClaimResult>> claim_within(NodeId claimant, int64_t limit_ns,
                                                          bool keep_writer = false) {
    ClientNode& c = client(claimant);
    c.start_claim(/*preempt=*/true, keep_writer);
    const int64_t deadline = sim_->now_ns() + limit_ns;
    while (!c.result && sim_->now_ns() < deadline && sim_->step()) {
    }
    return c.result;
  }

  void rot_acknowledged_then_claim(bool only_the_last, storage::TailDamage expected);

  std::unique_ptr<sim::Simulation> sim_;
};

// The scenario: member 1 lags; members 0 and 2 acknowledge the last entries, which no
// commit point announces; those records rot on member 0, which crashes and restarts. A claim
// by {0, 1} would choose member 1's shorter tail and lose an acknowledged entry. Member 0's
// recovery reports the damage (`expected`), so the claim waits for member 2 and keeps it.
void DamagedMemberClaim::rot_acknowledged_then_claim(bool only_the_last,
                                                     storage::TailDamage expected) {
  testing::become_writer(*sim_, kWriter);
  testing::write_committed(*sim_, kWriter, 20);
  sim_->network().isolate(1);
  const std::vector<uint64_t> late = write_acknowledged(2);
  sim_->network().isolate(kWriter);
  const uint64_t last_acknowledged = store(0).tail_id();
  ASSERT_EQ(store(2).tail_id(), last_acknowledged);
  ASSERT_LT(store(1).tail_id(), last_acknowledged);
  ASSERT_LT(store(0).committed_id(), last_acknowledged);

  ASSERT_TRUE(sim_->crash(0, sim::CrashMode::kLoseAll).ok());
  for (size_t i = only_the_last ? late.size() - 1 : 0; i < late.size(); ++i) rot(0, late[i]);
  ASSERT_TRUE(sim_->start(0).ok());
  sim_->run_for(10 * kNanosPerMilli);
  ASSERT_LT(store(0).tail_id(), last_acknowledged);
  EXPECT_EQ(store(0).recovery_report().tail_damage(), expected)
      << store(0).recovery_report().describe();

  // Member 2 is cut off; the claimant reaches 0 and 1 only.
  sim_->network().heal_all();
  sim_->network().isolate(kWriter);
  sim_->network().isolate(2);
  auto early = claim_within(kClaimant, 3 * kNanosPerSecond);
  ASSERT_FALSE(early.has_value() && early->ok() && early->value().tail_id < last_acknowledged)
      << "a claim by {0, 1} ended at tail " << early->value().tail_id << ", before acknowledged "
      << last_acknowledged;

  // With member 2 back, the claim keeps every acknowledged entry.
  sim_->network().heal_all();
  sim_->network().isolate(kWriter);
  auto healed = claim_within(kClaimant, 10 * kNanosPerSecond);
  ASSERT_TRUE(healed.has_value() && healed->ok())
      << (healed ? healed->status() : absl::DeadlineExceededError("no claim result in 10 s"));
  EXPECT_GE(healed->value().tail_id, last_acknowledged);
  sim_->run_for(kNanosPerSecond);
  const std::vector<Entry> held = testing::read_committed(*sim_, store(1), last_acknowledged,
                                                          last_acknowledged + 1);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held.front().checksum, late.back());
}

// The later of the two records was written after the earlier one's sync: its flush's sync
// mark proves the earlier one durable, so recovery knows it is rot.
TEST_F(DamagedMemberClaim, RotOfSyncedEntriesCannotLoseThem) {
  rot_acknowledged_then_claim(/*only_the_last=*/false, storage::TailDamage::kRot);
}

// Only the last record rots: nothing vouches for it, so recovery cannot tell it from a torn
// write (uncertain), and the claim counts member 0 only once every member has answered.
TEST_F(DamagedMemberClaim, RotOfTheLastRecordCannotLoseIt) {
  rot_acknowledged_then_claim(/*only_the_last=*/true, storage::TailDamage::kUncertain);
}

// A coordinated power loss: every member crashes at once in the middle of a flush, each
// tearing its unsynced tail. No member lost anything it acknowledged, and a claim succeeds,
// although recovery on each may be uncertain.
TEST_F(DamagedMemberClaim, EveryMemberCrashingWithTornTailsStillElectsAWriter) {
  testing::become_writer(*sim_, kWriter);
  testing::write_committed(*sim_, kWriter, 20);
  int uncertain = 0;
  for (int round = 0; round < 8; ++round) {
    // Puts in flight everywhere, then the power goes at once.
    Writer& w = *client(kWriter).writer();
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(w.put(std::string(200, 'p'), [](absl::Status) {}).ok());
    sim_->run_for((300 + 97 * round) * kNanosPerMicro);
    for (NodeId m = 0; m < 3; ++m) ASSERT_TRUE(sim_->crash(m, sim::CrashMode::kTorn).ok());
    for (NodeId m = 0; m < 3; ++m) ASSERT_TRUE(sim_->start(m).ok());
    sim_->run_for(10 * kNanosPerMilli);
    for (NodeId m = 0; m < 3; ++m) {
      uncertain += store(m).recovery_report().tail_damage() == storage::TailDamage::kUncertain;
      EXPECT_NE(store(m).recovery_report().tail_damage(), storage::TailDamage::kRot)
          << "round " << round << " member " << m << ": "
          << store(m).recovery_report().describe();
    }
    auto result = claim_within(kWriter, 10 * kNanosPerSecond, /*keep_writer=*/true);
    ASSERT_TRUE(result.has_value() && result->ok())
        << "round " << round << ": "
        << (result ? result->status() : absl::DeadlineExceededError("no claim result in 10 s"));
  }
  EXPECT_GT(uncertain, 0);  // some crash did tear a tail, and the claim still succeeded
}

}  // namespace
}  // namespace walle::protocol
