#include "sim/config.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {

using ::testing::HasSubstr;

class IdleNode final : public Node {
 public:
  void start() override {}
  void receive(NodeId, std::string_view) override {}
};

NodeFactory idle_factory() {
  return [](Env&) { return std::make_unique<IdleNode>(); };
}

// Checks that both validate() and Simulation::create() reject `config`, naming `field`.
void expect_rejected(const SimConfig& config, const std::string& field) {
  const absl::Status s = config.validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(field));
  auto sim = Simulation::create(config, idle_factory());
  ASSERT_FALSE(sim.ok());
  EXPECT_EQ(sim.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sim.status().message()), HasSubstr(field));
}

TEST(SimConfig, DefaultConfigIsValid) {
  EXPECT_TRUE(SimConfig{}.validate().ok());
  EXPECT_TRUE(Simulation::create(SimConfig{}, idle_factory()).ok());
}

TEST(SimConfig, RejectsZeroNodes) {
  SimConfig c;
  c.node_count = 0;
  expect_rejected(c, "node_count");
}

TEST(SimConfig, RejectsTooManyNodesButAcceptsTheLimit) {
  SimConfig c;
  c.node_count = kMaxNodes + 1;
  expect_rejected(c, "node_count");
  c.node_count = kMaxNodes;
  EXPECT_TRUE(c.validate().ok());
  c.node_count = 1;
  EXPECT_TRUE(c.validate().ok());
}

TEST(SimConfig, RejectsProbabilityAboveOne) {
  SimConfig c;
  c.network.duplicate_probability = 1.5;
  expect_rejected(c, "duplicate_probability");
}

TEST(SimConfig, RejectsNegativeProbability) {
  SimConfig c;
  c.network.reorder_probability = -0.1;
  expect_rejected(c, "reorder_probability");
}

TEST(SimConfig, RejectsNanProbability) {
  SimConfig c;
  c.network.drop_probability = std::numeric_limits<double>::quiet_NaN();
  expect_rejected(c, "drop_probability");
}

TEST(SimConfig, RejectsEveryBadNetworkAndDiskProbability) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double bad : {-0.5, 1.01, nan, std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(bad);
    {
      SimConfig c;
      c.network.tail_latency_probability = bad;
      expect_rejected(c, "tail_latency_probability");
    }
    {
      SimConfig c;
      c.disk.slow_sync_probability = bad;
      expect_rejected(c, "slow_sync_probability");
    }
    {
      SimConfig c;
      c.disk.read_error_probability = bad;
      expect_rejected(c, "read_error_probability");
    }
    {
      SimConfig c;
      c.disk.enospc_probability = bad;
      expect_rejected(c, "enospc_probability");
    }
  }
}

TEST(SimConfig, RejectsDropProbabilityOfOne) {
  SimConfig c;
  c.network.drop_probability = 1.0;
  expect_rejected(c, "drop_probability");
}

TEST(SimConfig, AcceptsProbabilityBoundsZeroAndOne) {
  SimConfig c;
  c.network.duplicate_probability = 1.0;
  c.network.reorder_probability = 0.0;
  c.disk.read_error_probability = 1.0;
  c.disk.enospc_probability = 0.0;
  EXPECT_TRUE(c.validate().ok());
}

TEST(SimConfig, RejectsLatencyMaxBelowMin) {
  SimConfig c;
  c.network.latency_min_ns = 1000;
  c.network.latency_max_ns = 999;
  expect_rejected(c, "latency_max_ns");
}

TEST(SimConfig, RejectsNegativeLatencyMin) {
  SimConfig c;
  c.network.latency_min_ns = -1;
  expect_rejected(c, "latency_min_ns");
}

TEST(SimConfig, RejectsTailLatencyBelowLatencyMax) {
  SimConfig c;
  c.network.tail_latency_max_ns = c.network.latency_max_ns - 1;
  expect_rejected(c, "tail_latency_max_ns");
}

TEST(SimConfig, RejectsSyncLatencyMaxBelowMin) {
  SimConfig c;
  c.disk.sync_latency_min_ns = 10;
  c.disk.sync_latency_max_ns = 5;
  expect_rejected(c, "sync_latency_max_ns");
}

TEST(SimConfig, RejectsSectorSize1000) {
  SimConfig c;
  c.disk.sector_size_bytes = 1000;
  expect_rejected(c, "sector_size_bytes");
  c.disk.sector_size_bytes = 4096;
  EXPECT_TRUE(c.validate().ok());
}

TEST(SimConfig, RejectsZeroCapacityAndZeroBandwidth) {
  {
    SimConfig c;
    c.disk.capacity_bytes = 0;
    expect_rejected(c, "capacity_bytes");
  }
  {
    SimConfig c;
    c.disk.write_bytes_per_second = 0;
    expect_rejected(c, "write_bytes_per_second");
  }
  {
    SimConfig c;
    c.disk.write_latency_ns = -1;
    expect_rejected(c, "write_latency_ns");
  }
}

TEST(SimConfig, RejectsDriftOutOfRange) {
  SimConfig c;
  c.max_clock_drift_ppm = kMaxClockDriftPpm + 1;
  expect_rejected(c, "max_clock_drift_ppm");
  c.max_clock_drift_ppm = -1;
  expect_rejected(c, "max_clock_drift_ppm");
  c.max_clock_drift_ppm = kMaxClockDriftPpm;
  EXPECT_TRUE(c.validate().ok());
  c.max_clock_drift_ppm = 0;
  EXPECT_TRUE(c.validate().ok());
}

TEST(SimConfig, CreateRejectsMissingFactory) {
  auto sim = Simulation::create(SimConfig{}, NodeFactory{});
  ASSERT_FALSE(sim.ok());
  EXPECT_EQ(sim.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sim.status().message()), HasSubstr("factory"));
}

class SimulationCalls : public ::testing::Test {
 protected:
  void SetUp() override {
    SimConfig c;
    c.node_count = 3;
    auto created = Simulation::create(c, idle_factory());
    ASSERT_TRUE(created.ok()) << created.status();
    sim_ = std::move(*created);
  }
  std::unique_ptr<Simulation> sim_;
};

TEST_F(SimulationCalls, UnknownNodeIdIsInvalidArgument) {
  for (NodeId bad : {NodeId{3}, NodeId{99}, kInvalidNodeId}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sim_->start(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sim_->crash(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sim_->pause(bad, kNanosPerMilli).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sim_->wipe(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(sim_->is_up(bad));
    EXPECT_EQ(sim_->node(bad), nullptr);
  }
  EXPECT_THAT(std::string(sim_->crash(99).message()), HasSubstr("99"));
  EXPECT_EQ(sim_->stats().crashes, 0u);
  EXPECT_EQ(sim_->stats().wipes, 0u);
  EXPECT_EQ(sim_->stats().pauses, 0u);
}

TEST_F(SimulationCalls, CrashOfADownNodeIsFailedPrecondition) {
  EXPECT_EQ(sim_->crash(0).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sim_->start(0).ok());
  ASSERT_TRUE(sim_->crash(0).ok());
  EXPECT_EQ(sim_->crash(0).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sim_->stats().crashes, 1u);
}

TEST_F(SimulationCalls, WipeOfAnUpNodeIsFailedPrecondition) {
  ASSERT_TRUE(sim_->start(1).ok());
  EXPECT_EQ(sim_->wipe(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sim_->stats().wipes, 0u);
  ASSERT_TRUE(sim_->crash(1).ok());
  EXPECT_TRUE(sim_->wipe(1).ok());
  EXPECT_EQ(sim_->stats().wipes, 1u);
}

TEST_F(SimulationCalls, StartOfAnUpNodeIsFailedPrecondition) {
  ASSERT_TRUE(sim_->start(2).ok());
  EXPECT_EQ(sim_->start(2).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SimulationCalls, PauseOfADownOrPausedNodeIsFailedPrecondition) {
  EXPECT_EQ(sim_->pause(0, kNanosPerMilli).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sim_->start(0).ok());
  ASSERT_TRUE(sim_->pause(0, kNanosPerMilli).ok());
  EXPECT_EQ(sim_->pause(0, kNanosPerMilli).code(), absl::StatusCode::kFailedPrecondition);
  sim_->run_for(2 * kNanosPerMilli);
  EXPECT_TRUE(sim_->pause(0, kNanosPerMilli).ok());
}

TEST_F(SimulationCalls, PauseWithNonPositiveDurationIsInvalidArgument) {
  ASSERT_TRUE(sim_->start(0).ok());
  EXPECT_EQ(sim_->pause(0, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sim_->pause(0, -5).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SimulationCalls, StartAllBootsEveryDownNodeAndCountsRestarts) {
  sim_->start_all();
  for (NodeId id = 0; id < 3; ++id) EXPECT_TRUE(sim_->is_up(id));
  EXPECT_EQ(sim_->stats().restarts, 0u);
  ASSERT_TRUE(sim_->crash(1).ok());
  EXPECT_FALSE(sim_->is_up(1));
  EXPECT_EQ(sim_->node(1), nullptr);
  sim_->start_all();
  EXPECT_TRUE(sim_->is_up(1));
  EXPECT_EQ(sim_->stats().restarts, 1u);
}

}  // namespace
}  // namespace walle::sim
