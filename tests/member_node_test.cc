// MemberNode: which streams a node serves, and with which members.

#include <memory>
#include <string>

#include "core/protocol/member_node.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

// Streams "a" on the default members 0, 1, 2 and "b" on 0 and 1 only: node 2 never opens "b"
// (no files of it in its data directory), the others serve both.
TEST(MemberNode, ServesOnlyTheStreamsItIsAMemberOf) {
  sim::SimConfig config;
  config.node_count = 3;
  MemberOptions options;
  options.streams = {"a", "b"};
  options.store = storage::testing::small_options();
  options.members = {0, 1, 2};
  options.stream_members["b"] = {0, 1};
  EXPECT_EQ(MemberNode::members_of(options, "a"), (std::vector<NodeId>{0, 1, 2}));
  EXPECT_EQ(MemberNode::members_of(options, "b"), (std::vector<NodeId>{0, 1}));
  auto created = sim::Simulation::create(
      config, [&](Env& env) -> std::unique_ptr<Node> { return std::make_unique<MemberNode>(env, options); });
  ASSERT_TRUE(created.ok());
  sim::Simulation& sim = **created;
  sim.start_all();
  sim.run_for(50 * kNanosPerMilli);
  for (NodeId n = 0; n < 3; ++n) {
    auto* member = sim.node_as<MemberNode>(n);
    ASSERT_NE(member, nullptr);
    EXPECT_NE(member->replica("a"), nullptr) << "node " << n;
    EXPECT_EQ(member->replica("b") != nullptr, n != 2) << "node " << n;
  }
  for (const std::string& name : sim.disk(2).list()) {
    EXPECT_NE(name.rfind("b.", 0), 0u) << "node 2 made a file of stream b: " << name;
  }
}

}  // namespace
}  // namespace walle::protocol
