// Many streams left with unacknowledged entries by a dead writer, on a slow disk: the members'
// resolvers must commit every one and then fall quiet. (Found on real servers: 3 servers of
// 1000 streams restarted after kill -9 resolved every stream from every member at once; the
// claims' metadata syncs queued on one disk, every claim timed out and was retried at the
// next check, forever.)

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/protocol/member_node.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/storage_harness.h"

namespace walle::protocol {
namespace {

using storage::testing::make_entry;
using storage::testing::small_options;

constexpr int kStreams = 40;
constexpr NodeId kClient = 3;
constexpr WriterId kWriter{1, 1};

class SilentClient final : public Node {
 public:
  explicit SilentClient(Env& env) : env(env) {}
  void start() override {}
  void receive(NodeId, std::string_view) override {}
  Env& env;
};

std::string stream_name(int i) { return absl::StrCat("s", i); }

TEST(ResolverStorm, EveryStreamIsResolvedOnceAndTheMembersFallQuiet) {
  sim::SimConfig config;
  config.node_count = 4;
  // A slow disk: one metadata write (two copies, each synced, renamed, the directory synced)
  // takes about 100 ms, so 40 streams' claims queue for seconds, past the claim's timeout.
  config.disk.sync_latency_min_ns = 20 * kNanosPerMilli;
  config.disk.sync_latency_max_ns = 30 * kNanosPerMilli;
  MemberOptions options;
  for (int i = 0; i < kStreams; ++i) options.streams.push_back(stream_name(i));
  options.store = small_options();
  options.members = {0, 1, 2};
  auto created = sim::Simulation::create(config, [&](Env& env) -> std::unique_ptr<Node> {
    if (env.self == kClient) return std::make_unique<SilentClient>(env);
    return std::make_unique<MemberNode>(env, options);
  });
  ASSERT_TRUE(created.ok()) << created.status();
  sim::Simulation& sim = **created;
  sim.start_all();
  sim.run_for(2 * kNanosPerSecond);
  Env& client = sim.node_as<SilentClient>(kClient)->env;
  auto to_members = [&](const auto& message) {
    for (NodeId m = 0; m < 3; ++m) client.transport.send(m, wire::encode(message));
  };
  // A writer claims every stream, puts entry 1 on every member, and dies before committing it.
  uint64_t request_id = 0;
  for (int i = 0; i < kStreams; ++i) {
    to_members(NewWriterRequest{stream_name(i), ++request_id, kWriter, 200 * kNanosPerMilli});
  }
  sim.run_for(20 * kNanosPerSecond);
  const Entry first = make_entry(1, entry_zero().checksum, 40, 0, kWriter);
  for (int i = 0; i < kStreams; ++i) {
    to_members(PutRequest{stream_name(i), ++request_id, kWriter, 0, entry_zero().checksum, first,
                          200 * kNanosPerMilli});
  }
  sim.run_for(5 * kNanosPerSecond);
  for (NodeId m = 0; m < 3; ++m) {
    for (int i = 0; i < kStreams; ++i) {
      ASSERT_EQ(sim.node_as<MemberNode>(m)->store(stream_name(i))->tail_id(), 1u)
          << "the dead writer's entry did not land on member " << m << ", stream " << i;
    }
  }

  auto claims_granted = [&] {
    uint64_t total = 0;
    for (NodeId m = 0; m < 3; ++m) {
      for (int i = 0; i < kStreams; ++i) {
        total += sim.node_as<MemberNode>(m)->replica(stream_name(i))->counters().claims_granted;
      }
    }
    return total;
  };
  // Resolved: a majority of each stream's members has entry 1 committed.
  sim.run_for(120 * kNanosPerSecond);
  for (int i = 0; i < kStreams; ++i) {
    int committed = 0;
    for (NodeId m = 0; m < 3; ++m) {
      committed += sim.node_as<MemberNode>(m)->store(stream_name(i))->committed_id() == 1;
    }
    EXPECT_GE(committed, 2) << "stream " << i << " was not resolved within 120 s";
  }
  const uint64_t claims = claims_granted();
  // Quiet: no claim in the next minute.
  sim.run_for(60 * kNanosPerSecond);
  EXPECT_EQ(claims_granted(), claims) << "the members still claim streams that are resolved";
}

}  // namespace
}  // namespace walle::protocol
