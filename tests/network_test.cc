#include "sim/network.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Received {
  NodeId from;
  std::string bytes;
  int64_t at_ns;
};

// Everything the nodes observed, indexed by receiving node; outlives node incarnations.
struct NetLog {
  std::map<NodeId, std::vector<Received>> received;
  std::map<NodeId, std::vector<NodeId>> lost;
};

class NetNode final : public Node {
 public:
  NetNode(Env& env, NetLog& log, Simulation* const& sim) : env(env), log_(log), sim_(sim) {}
  void start() override {}
  void receive(NodeId from, std::string_view bytes) override {
    log_.received[env.self].push_back({from, std::string(bytes), sim_->now_ns()});
  }
  void connection_lost(NodeId peer) override { log_.lost[env.self].push_back(peer); }

  Env& env;

 private:
  NetLog& log_;
  Simulation* const& sim_;
};

class NetworkTest : public ::testing::Test {
 protected:
  // Quiet defaults: no faults, no tail latency.
  static SimConfig quiet_config(uint32_t nodes = 3) {
    SimConfig c;
    c.node_count = nodes;
    c.network.tail_latency_probability = 0;
    return c;
  }

  void make(const SimConfig& config) {
    auto created = Simulation::create(
        config, [this](Env& env) { return std::make_unique<NetNode>(env, log_, raw_); });
    ASSERT_TRUE(created.ok()) << created.status();
    sim_ = std::move(*created);
    raw_ = sim_.get();
    sim_->start_all();
    sim_->run_for(kNanosPerMicro);
  }

  void send(NodeId from, NodeId to, std::string bytes) {
    NetNode* n = sim_->node_as<NetNode>(from);
    ASSERT_NE(n, nullptr);
    n->env.transport.send(to, std::move(bytes));
  }

  void drain() { sim_->run_for(kNanosPerSecond); }

  std::vector<std::string> payloads(NodeId at, NodeId from) {
    std::vector<std::string> out;
    for (const Received& r : log_.received[at]) {
      if (r.from == from) out.push_back(r.bytes);
    }
    return out;
  }

  uint64_t accounted() const {
    const SimStats& s = sim_->stats();
    return s.messages_delivered + s.dropped_random + s.dropped_partition + s.dropped_reset +
           s.dropped_node_down;
  }

  NetLog log_;
  Simulation* raw_ = nullptr;
  std::unique_ptr<Simulation> sim_;
};

TEST_F(NetworkTest, FaultFreeNetworkDeliversEveryMessageOnce) {
  make(quiet_config());
  for (int i = 0; i < 100; ++i) send(0, 1, std::to_string(i));
  drain();
  EXPECT_EQ(payloads(1, 0).size(), 100u);
  const SimStats& s = sim_->stats();
  EXPECT_EQ(s.messages_sent, 100u);
  EXPECT_EQ(s.messages_delivered, 100u);
  EXPECT_EQ(s.duplicated, 0u);
  EXPECT_EQ(s.reordered, 0u);
  EXPECT_EQ(s.dropped_random + s.dropped_partition + s.dropped_reset + s.dropped_node_down, 0u);
}

TEST_F(NetworkTest, LatencyStaysWithinConfiguredBounds) {
  SimConfig c = quiet_config(2);
  c.network.latency_min_ns = 100 * kNanosPerMicro;
  c.network.latency_max_ns = 300 * kNanosPerMicro;
  make(c);
  const int64_t sent_at = sim_->now_ns();
  for (int i = 0; i < 200; ++i) send(0, 1, "x");
  drain();
  ASSERT_EQ(log_.received[1].size(), 200u);
  for (const Received& r : log_.received[1]) {
    EXPECT_GE(r.at_ns - sent_at, 100 * kNanosPerMicro);
    EXPECT_LE(r.at_ns - sent_at, 300 * kNanosPerMicro);
  }
}

TEST_F(NetworkTest, RandomDropsHappenAndEveryMessageIsAccountedFor) {
  SimConfig c = quiet_config(2);
  c.network.drop_probability = 0.3;
  make(c);
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i) send(0, 1, std::to_string(i));
  drain();
  const SimStats& s = sim_->stats();
  EXPECT_EQ(s.messages_sent, static_cast<uint64_t>(kMessages));
  EXPECT_GT(s.dropped_random, 400u);
  EXPECT_LT(s.dropped_random, 800u);
  EXPECT_EQ(s.messages_delivered + s.dropped_random, static_cast<uint64_t>(kMessages));
  EXPECT_EQ(accounted(), s.messages_sent);
  EXPECT_EQ(payloads(1, 0).size(), s.messages_delivered);
}

TEST_F(NetworkTest, DuplicatesDeliverExtraCopiesOfTheSameBytes) {
  SimConfig c = quiet_config(2);
  c.network.duplicate_probability = 0.2;
  make(c);
  constexpr int kMessages = 1000;
  for (int i = 0; i < kMessages; ++i) send(0, 1, "m" + std::to_string(i));
  drain();
  const SimStats& s = sim_->stats();
  EXPECT_GT(s.duplicated, 100u);
  std::map<std::string, int> copies;
  for (const std::string& p : payloads(1, 0)) ++copies[p];
  EXPECT_EQ(copies.size(), static_cast<size_t>(kMessages)) << "a message was lost";
  uint64_t twice = 0;
  for (const auto& [p, n] : copies) {
    EXPECT_LE(n, 2) << p;
    if (n == 2) ++twice;
  }
  EXPECT_EQ(twice, s.duplicated);
  EXPECT_EQ(payloads(1, 0).size(), kMessages + s.duplicated);
  EXPECT_EQ(s.messages_delivered, s.messages_sent + s.duplicated);
}

TEST_F(NetworkTest, WithoutReorderEachLinkDeliversInSendOrder) {
  SimConfig c = quiet_config(3);
  // Widely varying latency: without the FIFO rule, later messages would overtake earlier ones.
  c.network.latency_min_ns = 1 * kNanosPerMicro;
  c.network.latency_max_ns = 2 * kNanosPerMilli;
  c.network.tail_latency_probability = 0.2;
  c.network.tail_latency_max_ns = 20 * kNanosPerMilli;
  c.network.drop_probability = 0.1;  // drops leave gaps but must not reorder
  make(c);
  for (int round = 0; round < 50; ++round) {
    for (NodeId from = 0; from < 3; ++from) {
      for (NodeId to = 0; to < 3; ++to) {
        if (from == to) continue;
        for (int k = 0; k < 5; ++k) send(from, to, std::to_string(round * 5 + k));
      }
    }
    sim_->run_for(100 * kNanosPerMicro);
  }
  drain();
  EXPECT_EQ(sim_->stats().reordered, 0u);
  for (NodeId to = 0; to < 3; ++to) {
    for (NodeId from = 0; from < 3; ++from) {
      if (from == to) continue;
      const std::vector<std::string> got = payloads(to, from);
      EXPECT_GT(got.size(), 150u);
      for (size_t i = 1; i < got.size(); ++i) {
        ASSERT_LT(std::stoi(got[i - 1]), std::stoi(got[i]))
            << "link " << from << "->" << to << " reordered";
      }
    }
  }
}

TEST_F(NetworkTest, ReorderFaultProducesOutOfOrderArrivals) {
  SimConfig c = quiet_config(2);
  c.network.latency_min_ns = 1 * kNanosPerMicro;
  c.network.latency_max_ns = 2 * kNanosPerMilli;
  c.network.reorder_probability = 0.5;
  make(c);
  for (int i = 0; i < 500; ++i) {
    send(0, 1, std::to_string(i));
    sim_->run_for(10 * kNanosPerMicro);
  }
  drain();
  EXPECT_GT(sim_->stats().reordered, 100u);
  const std::vector<std::string> got = payloads(1, 0);
  ASSERT_EQ(got.size(), 500u);
  int inversions = 0;
  for (size_t i = 1; i < got.size(); ++i) {
    if (std::stoi(got[i - 1]) > std::stoi(got[i])) ++inversions;
  }
  EXPECT_GT(inversions, 0);
}

TEST_F(NetworkTest, PartitionBlocksBothDirectionsOnly) {
  make(quiet_config(3));
  sim_->network().partition(0, 1);
  EXPECT_TRUE(sim_->network().blocked(0, 1));
  EXPECT_TRUE(sim_->network().blocked(1, 0));
  EXPECT_FALSE(sim_->network().blocked(0, 2));
  send(0, 1, "a");
  send(1, 0, "b");
  send(0, 2, "c");
  send(2, 1, "d");
  drain();
  EXPECT_THAT(payloads(1, 0), IsEmpty());
  EXPECT_THAT(payloads(0, 1), IsEmpty());
  EXPECT_THAT(payloads(2, 0), ElementsAre("c"));
  EXPECT_THAT(payloads(1, 2), ElementsAre("d"));
  EXPECT_EQ(sim_->stats().dropped_partition, 2u);

  sim_->network().heal(0, 1);
  EXPECT_FALSE(sim_->network().blocked(0, 1));
  EXPECT_FALSE(sim_->network().blocked(1, 0));
  send(0, 1, "e");
  send(1, 0, "f");
  drain();
  EXPECT_THAT(payloads(1, 0), ElementsAre("e"));
  EXPECT_THAT(payloads(0, 1), ElementsAre("f"));
}

TEST_F(NetworkTest, BlockBlocksOneDirectionOnly) {
  make(quiet_config(2));
  sim_->network().block(0, 1);
  EXPECT_TRUE(sim_->network().blocked(0, 1));
  EXPECT_FALSE(sim_->network().blocked(1, 0));
  send(0, 1, "lost");
  send(1, 0, "arrives");
  drain();
  EXPECT_THAT(payloads(1, 0), IsEmpty());
  EXPECT_THAT(payloads(0, 1), ElementsAre("arrives"));
  EXPECT_EQ(sim_->stats().dropped_partition, 1u);
  sim_->network().heal(1, 0);  // heal is symmetric whichever way it is named
  send(0, 1, "healed");
  drain();
  EXPECT_THAT(payloads(1, 0), ElementsAre("healed"));
}

TEST_F(NetworkTest, PartitionDropsMessagesAlreadyInFlight) {
  SimConfig c = quiet_config(2);
  c.network.latency_min_ns = kNanosPerMilli;
  c.network.latency_max_ns = 2 * kNanosPerMilli;
  make(c);
  send(0, 1, "in flight");
  sim_->run_for(kNanosPerMilli / 2);
  sim_->network().partition(0, 1);
  drain();
  EXPECT_THAT(payloads(1, 0), IsEmpty());
  EXPECT_EQ(sim_->stats().dropped_partition, 1u);
  EXPECT_EQ(accounted(), sim_->stats().messages_sent);
}

TEST_F(NetworkTest, IsolateAndHealAllRestoreEveryLink) {
  make(quiet_config(3));
  sim_->network().isolate(2);
  for (NodeId other : {0u, 1u}) {
    EXPECT_TRUE(sim_->network().blocked(2, other));
    EXPECT_TRUE(sim_->network().blocked(other, 2));
  }
  EXPECT_FALSE(sim_->network().blocked(0, 1));
  send(2, 0, "x");
  send(1, 2, "y");
  send(0, 1, "z");
  drain();
  EXPECT_THAT(payloads(0, 2), IsEmpty());
  EXPECT_THAT(payloads(2, 1), IsEmpty());
  EXPECT_THAT(payloads(1, 0), ElementsAre("z"));
  sim_->network().heal_all();
  send(2, 0, "x2");
  send(1, 2, "y2");
  drain();
  EXPECT_THAT(payloads(0, 2), ElementsAre("x2"));
  EXPECT_THAT(payloads(2, 1), ElementsAre("y2"));
}

TEST_F(NetworkTest, ClogDelaysDeliveryUntilTheClogEnds) {
  make(quiet_config(3));
  const int64_t clog_end = sim_->now_ns() + 50 * kNanosPerMilli;
  sim_->network().clog(1, clog_end);
  send(0, 1, "to clogged");
  send(1, 2, "from clogged");
  send(0, 2, "unaffected");
  sim_->run_for(10 * kNanosPerMilli);
  EXPECT_THAT(payloads(2, 0), ElementsAre("unaffected"));
  sim_->run_until(clog_end - 1);
  EXPECT_THAT(payloads(1, 0), IsEmpty());
  EXPECT_THAT(payloads(2, 1), IsEmpty());
  sim_->run_until(clog_end);
  EXPECT_THAT(payloads(1, 0), ElementsAre("to clogged"));
  EXPECT_THAT(payloads(2, 1), ElementsAre("from clogged"));
  EXPECT_EQ(sim_->stats().clogged, 2u);
  // After the clog, delivery is prompt again.
  const int64_t t = sim_->now_ns();
  send(0, 1, "after");
  drain();
  ASSERT_EQ(log_.received[1].size(), 2u);
  EXPECT_LE(log_.received[1].back().at_ns - t, sim_->config().network.latency_max_ns);
}

TEST_F(NetworkTest, ResetDropsInFlightMessagesAndNotifiesBothEnds) {
  make(quiet_config(3));
  for (int i = 0; i < 5; ++i) {
    send(0, 1, "a" + std::to_string(i));
    send(1, 0, "b" + std::to_string(i));
  }
  send(0, 2, "other link");
  sim_->network().reset(0, 1);
  drain();
  EXPECT_THAT(payloads(1, 0), IsEmpty());
  EXPECT_THAT(payloads(0, 1), IsEmpty());
  EXPECT_THAT(payloads(2, 0), ElementsAre("other link"));
  EXPECT_EQ(sim_->stats().dropped_reset, 10u);
  EXPECT_EQ(sim_->stats().connection_resets, 1u);
  EXPECT_THAT(log_.lost[0], ElementsAre(1));
  EXPECT_THAT(log_.lost[1], ElementsAre(0));
  EXPECT_THAT(log_.lost[2], IsEmpty());
  // The link works again after the reset.
  send(0, 1, "new connection");
  drain();
  EXPECT_THAT(payloads(1, 0), ElementsAre("new connection"));
}

TEST_F(NetworkTest, MessagesToACrashedNodeAreDropped) {
  make(quiet_config(3));
  ASSERT_TRUE(sim_->crash(1).ok());
  drain();
  EXPECT_THAT(log_.lost[0], ElementsAre(1));
  EXPECT_THAT(log_.lost[2], ElementsAre(1));
  send(0, 1, "to the dead");
  send(2, 1, "to the dead too");
  drain();
  EXPECT_EQ(sim_->stats().dropped_node_down, 2u);
  EXPECT_THAT(log_.received[1], IsEmpty());
  ASSERT_TRUE(sim_->start(1).ok());
  sim_->run_for(kNanosPerMicro);
  send(0, 1, "to the living");
  drain();
  EXPECT_THAT(payloads(1, 0), ElementsAre("to the living"));
}

TEST_F(NetworkTest, InFlightMessagesToANodeThatCrashesAreNeverDelivered) {
  SimConfig c = quiet_config(2);
  c.network.latency_min_ns = kNanosPerMilli;
  c.network.latency_max_ns = kNanosPerMilli;
  c.network.tail_latency_max_ns = kNanosPerMilli;
  make(c);
  for (int i = 0; i < 10; ++i) send(0, 1, "x");
  sim_->run_for(kNanosPerMilli / 2);
  ASSERT_TRUE(sim_->crash(1).ok());
  ASSERT_TRUE(sim_->start(1).ok());  // even a fresh incarnation must not get them
  drain();
  EXPECT_THAT(log_.received[1], IsEmpty());
  EXPECT_EQ(accounted(), sim_->stats().messages_sent);
}

TEST_F(NetworkTest, SendToUnknownNodeIsDroppedAndToSelfIsLoopedBack) {
  make(quiet_config(2));
  send(0, 7, "nobody");
  send(0, kInvalidNodeId, "invalid");
  drain();
  EXPECT_THAT(log_.received[0], IsEmpty());
  EXPECT_EQ(sim_->stats().messages_delivered, 0u);
  // A process's message to itself never meets network faults: it arrives even when isolated.
  sim_->network().isolate(0);
  send(0, 0, "self");
  drain();
  ASSERT_EQ(log_.received[0].size(), 1u);
}

TEST_F(NetworkTest, PausedReceiverGetsMessagesAfterResume) {
  make(quiet_config(2));
  ASSERT_TRUE(sim_->pause(1, 10 * kNanosPerMilli).ok());
  const int64_t paused_at = sim_->now_ns();
  send(0, 1, "first");
  send(0, 1, "second");
  sim_->run_for(5 * kNanosPerMilli);
  EXPECT_THAT(log_.received[1], IsEmpty());
  drain();
  EXPECT_THAT(payloads(1, 0), ElementsAre("first", "second"));
  for (const Received& r : log_.received[1]) EXPECT_GE(r.at_ns, paused_at + 10 * kNanosPerMilli);
}

TEST_F(NetworkTest, BytesArriveExactlyAsSent) {
  make(quiet_config(2));
  std::vector<std::string> sent;
  sent.push_back("");
  sent.push_back(std::string(1, '\0'));
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  sent.push_back(all_bytes);
  sent.push_back(std::string("a\0b\0\0c", 6));
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 2654435761u >> 13);
  sent.push_back(big);
  uint64_t total = 0;
  for (const std::string& s : sent) {
    total += s.size();
    send(0, 1, s);
  }
  drain();
  EXPECT_EQ(payloads(1, 0), sent);
  EXPECT_EQ(sim_->stats().bytes_sent, total);
}

TEST_F(NetworkTest, SameSeedReplaysTheSameDeliveries) {
  SimConfig c = quiet_config(3);
  c.seed = 77;
  c.network.drop_probability = 0.2;
  c.network.duplicate_probability = 0.2;
  c.network.reorder_probability = 0.3;
  c.network.tail_latency_probability = 0.1;
  auto run = [&] {
    log_ = NetLog{};
    make(c);
    for (int i = 0; i < 300; ++i) send(i % 3, (i + 1) % 3, std::to_string(i));
    drain();
    std::vector<std::tuple<NodeId, NodeId, std::string, int64_t>> out;
    for (const auto& [to, msgs] : log_.received) {
      for (const Received& r : msgs) out.emplace_back(to, r.from, r.bytes, r.at_ns);
    }
    return std::pair{out, sim_->trace().digest()};
  };
  const auto first = run();
  const auto second = run();
  EXPECT_EQ(first.first, second.first);
  EXPECT_EQ(first.second, second.second);
  c.seed = 78;
  const auto other = run();
  EXPECT_NE(first.second, other.second);
}

TEST_F(NetworkTest, ByteStreamsDeliverEveryMessageInOrderAfterAHandshake) {
  SimConfig c = quiet_config();
  c.network.byte_streams = true;
  make(c);
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back(std::string(static_cast<size_t>(i * 53 % 9000), static_cast<char>('a' + i % 26)) +
                   std::to_string(i));
    send(0, 1, sent.back());
  }
  send(1, 0, "back");
  drain();
  EXPECT_EQ(payloads(1, 0), sent);  // whole, once, in order, though cut into small writes
  EXPECT_THAT(payloads(0, 1), ElementsAre("back"));
  const SimStats& s = sim_->stats();
  EXPECT_EQ(s.stream_connections, 1u);  // one connection for the pair, both directions
  EXPECT_EQ(s.stream_handshakes, 2u);
  EXPECT_GT(s.stream_writes, 200u);
}

TEST_F(NetworkTest, ByteStreamsRefuseDamagedWritesAndNeverDeliverWrongBytes) {
  SimConfig c = quiet_config();
  c.network.byte_streams = true;
  c.network.corrupt_write_probability = 0.02;
  make(c);
  std::vector<std::string> sent;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 20; ++i) {
      sent.push_back("message " + std::to_string(round * 20 + i) + std::string(500, 'x'));
      send(0, 1, sent.back());
    }
    sim_->run_for(10 * kNanosPerMilli);
  }
  drain();
  const SimStats& s = sim_->stats();
  EXPECT_GT(s.stream_corrupted_writes, 0u);
  EXPECT_GT(s.stream_bad_frames, 0u);
  EXPECT_GT(s.stream_connections, 1u);  // each damaged stream was reset and opened anew
  // What arrives is a subsequence of what was sent: no damaged, duplicated or reordered one.
  const std::vector<std::string> got = payloads(1, 0);
  EXPECT_LT(got.size(), sent.size());
  size_t next = 0;
  for (const std::string& g : got) {
    while (next < sent.size() && sent[next] != g) ++next;
    ASSERT_LT(next, sent.size()) << "delivered a message that was not sent, or out of order";
    ++next;
  }
  EXPECT_FALSE(log_.lost[1].empty());  // the receiver was told its connection broke
}

}  // namespace
}  // namespace walle::sim
