// ClaimCoordinator against three simulated members.

#include "core/protocol/claim.h"

#include <optional>

#include "core/protocol/member_node.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/protocol_harness.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

using storage::testing::make_entry;
using storage::testing::small_options;

constexpr NodeId kClient = 3;
constexpr int64_t kLeaseNs = 100 * kNanosPerMilli;

using testing::ClientNode;

class ClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim::SimConfig config;
    config.node_count = 4;
    auto created = sim::Simulation::create(config, [](Env& env) -> std::unique_ptr<Node> {
      if (env.self == kClient) return std::make_unique<ClientNode>(env, kLeaseNs);
      return std::make_unique<MemberNode>(env, MemberOptions{{"s"}, small_options(), {}, {}});
    });
    ASSERT_TRUE(created.ok());
    sim_ = std::move(*created);
    sim_->start_all();
    sim_->run_for(10 * kNanosPerMilli);
  }
  ClientNode& client() { return *sim_->node_as<ClientNode>(kClient); }
  storage::StreamStore* store(NodeId m) { return sim_->node_as<MemberNode>(m)->store("s"); }

  ClaimResult claim(bool preempt = true) {
    client().start_claim(preempt);
    while (!client().result && sim_->step()) {
    }
    EXPECT_TRUE(client().result.has_value());
    EXPECT_TRUE(client().result->ok()) << client().result->status();
    return client().result->value_or(ClaimResult{});
  }
  // Sends writer w's entry to the given members, with commit point `committed`.
  void put_to(std::initializer_list<NodeId> members, WriterId w, const Entry& e,
              uint64_t committed_id = 0, uint64_t committed_checksum = 0) {
    for (NodeId m : members) {
      client().env.transport.send(m, wire::encode(PutRequest{"s", 1000 + e.id, w, committed_id,
                                                             committed_checksum, e, kLeaseNs}));
    }
    sim_->run_for(20 * kNanosPerMilli);
  }

  // Committed entries [from, to) as member m stores them.
  std::vector<Entry> read_committed(NodeId m, uint64_t from, uint64_t to) {
    return testing::read_committed(*sim_, *store(m), from, to);
  }

  std::unique_ptr<sim::Simulation> sim_;
};

TEST_F(ClaimTest, AFreshStreamIsClaimedAtEntryZero) {
  ClaimResult r = claim();
  EXPECT_GT(r.writer, (WriterId{0, 0}));
  EXPECT_EQ(r.tail_id, 0u);
  for (NodeId m : {0, 1, 2}) EXPECT_EQ(store(m)->meta().writer, r.writer);
}

TEST_F(ClaimTest, ALaterClaimHasANewerWriterAndFencesTheOldOne) {
  ClaimResult first = claim();
  ClaimResult second = claim();
  EXPECT_GT(second.writer, first.writer);
  Entry e = make_entry(1, 0, 40, 0, first.writer);
  put_to({0, 1, 2}, first.writer, e);
  ASSERT_EQ(client().put_replies.size(), 3u);
  for (const auto& [m, reply] : client().put_replies) {
    EXPECT_EQ(reply.status.to_status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_F(ClaimTest, TheClaimAdoptsTheMajorityAcknowledgedChainAndRepairsTheRest) {
  ClaimResult w1 = claim();
  // W1 wrote 1..4; 1..3 reached members 0 and 1 (acknowledged by a majority), 4 only member 0;
  // member 2 saw only entry 1.
  std::vector<Entry> chain{entry_zero()};
  for (uint64_t id = 1; id <= 4; ++id)
    chain.push_back(make_entry(id, chain.back().checksum, 40, 0, w1.writer));
  put_to({0, 1, 2}, w1.writer, chain[1]);
  put_to({0, 1}, w1.writer, chain[2]);
  put_to({0, 1}, w1.writer, chain[3], 2, chain[2].checksum);
  put_to({0}, w1.writer, chain[4]);
  ASSERT_EQ(store(2)->tail_id(), 1u);

  ClaimResult w2 = claim();
  EXPECT_GT(w2.writer, w1.writer);
  // Every acknowledged entry (1..3) survives; the chosen tail is committed on a majority.
  EXPECT_GE(w2.tail_id, 3u);
  int holding = 0;
  for (NodeId m : {0, 1, 2}) {
    if (store(m)->committed_id() == w2.tail_id) {
      ++holding;
      auto head = store(m)->head(w2.tail_id);
      ASSERT_TRUE(head.has_value());
      EXPECT_EQ(head->checksum, w2.tail_checksum);
      EXPECT_EQ(head->writer, w2.writer);
    }
  }
  EXPECT_GE(holding, 2);
  EXPECT_EQ(w2.tail_checksum, chain[w2.tail_id].checksum);
}

TEST_F(ClaimTest, AClaimDoesNotPreemptALiveLeaseUnlessAsked) {
  ClaimResult first = claim();
  client().start_claim(/*preempt=*/false);
  while (!client().result && sim_->step()) {
  }
  ASSERT_TRUE(client().result.has_value());
  EXPECT_EQ(client().result->status().code(), absl::StatusCode::kUnavailable);
  // Nobody renews the first writer's lease: once it has run out, the claim goes through.
  sim_->run_for(2 * kLeaseNs);
  EXPECT_GT(claim(/*preempt=*/false).writer, first.writer);
}

TEST_F(ClaimTest, RepairCopiesKeepTheirStampsAndOnlyTheTailCarriesTheNewWriter) {
  ClaimResult w1 = claim();
  std::vector<Entry> chain{entry_zero()};
  for (uint64_t id = 1; id <= 4; ++id)
    chain.push_back(make_entry(id, chain.back().checksum, 40, 0, w1.writer));
  put_to({0, 1, 2}, w1.writer, chain[1]);
  for (uint64_t id = 2; id <= 4; ++id) put_to({0, 1}, w1.writer, chain[id]);
  // Member 1 is away, so member 2 (holding only entry 1) is repaired from member 0.
  ASSERT_TRUE(sim_->crash(1).ok());
  ClaimResult w2 = claim();
  ASSERT_EQ(w2.tail_id, 4u);
  std::vector<Entry> repaired = read_committed(2, 1, 5);
  ASSERT_EQ(repaired.size(), 4u);
  // Copies stamped with W2 would let a follower whose repair was cut short look like it held
  // W2's whole chain, and outrank a complete older tail in the next claim.
  for (uint64_t id = 2; id <= 3; ++id) EXPECT_EQ(repaired[id - 1].writer, w1.writer) << id;
  EXPECT_EQ(repaired[3].writer, w2.writer);
  for (uint64_t id = 1; id <= 4; ++id) EXPECT_EQ(repaired[id - 1].checksum, chain[id].checksum);
}

TEST_F(ClaimTest, AClaimSucceedsWithOneMemberDown) {
  ASSERT_TRUE(sim_->crash(2).ok());
  ClaimResult r = claim();
  EXPECT_GT(r.writer, (WriterId{0, 0}));
}

TEST_F(ClaimTest, AClaimWithoutAMajorityFailsCleanly) {
  ASSERT_TRUE(sim_->crash(1).ok());
  ASSERT_TRUE(sim_->crash(2).ok());
  client().start_claim();
  sim_->run_for(10 * kNanosPerSecond);
  ASSERT_TRUE(client().result.has_value());
  EXPECT_EQ(client().result->status().code(), absl::StatusCode::kUnavailable);
}

// A member that refuses for now (a fresh stream still being created at boot) is asked again
// at the next resend; the claim used to drop the request and wait out its phase timeout (2 s).
TEST(ClaimAtBoot, AMemberThatRefusesWhileItsStreamOpensIsAskedAgain) {
  sim::SimConfig config;
  config.node_count = 4;
  auto sim = sim::Simulation::create(config, [](Env& env) -> std::unique_ptr<Node> {
    if (env.self == kClient) return std::make_unique<ClientNode>(env, kLeaseNs);
    return std::make_unique<MemberNode>(env, MemberOptions{{"s"}, small_options(), {}, {}});
  });
  ASSERT_TRUE(sim.ok());
  (*sim)->start_all();
  ClientNode& client = *(*sim)->node_as<ClientNode>(kClient);
  client.start_claim();
  while (!client.result && (*sim)->step()) {
  }
  ASSERT_TRUE(client.result.has_value());
  EXPECT_TRUE(client.result->ok()) << client.result->status();
  EXPECT_LT((*sim)->now_ns(), 500 * kNanosPerMilli);
}

}  // namespace
}  // namespace walle::protocol
