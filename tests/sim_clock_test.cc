#include "sim/sim_clock.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "core/env/timer.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {

using ::testing::ElementsAre;

// A node whose start() runs a test-supplied function; the test drives its clock through env.
class TimerNode final : public Node {
 public:
  TimerNode(Env& env, std::function<void(TimerNode&)> on_start)
      : env(env), on_start_(std::move(on_start)) {}
  void start() override {
    if (on_start_) on_start_(*this);
  }
  void receive(NodeId, std::string_view) override {}

  Env& env;

 private:
  std::function<void(TimerNode&)> on_start_;
};

std::unique_ptr<Simulation> make_sim(SimConfig config, std::function<void(TimerNode&)> on_start) {
  auto sim = Simulation::create(
      config, [on_start](Env& env) { return std::make_unique<TimerNode>(env, on_start); });
  EXPECT_TRUE(sim.ok()) << sim.status();
  return std::move(*sim);
}

TEST(SimClock, TimersFireNoEarlierThanTheirLocalDelayUnderLargeDrift) {
  const std::vector<int64_t> delays = {0,
                                       1,
                                       7,
                                       999,
                                       1000001,
                                       3333333333,
                                       123456789,
                                       kNanosPerSecond,
                                       17,
                                       50000,
                                       2 * kNanosPerSecond};
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE(seed);
    SimConfig config;
    config.seed = seed;
    config.node_count = 12;
    config.max_clock_drift_ppm = 50000;
    int fired = 0;
    int checked = 0;
    // Each timer, when it fires, checks its local elapsed time and re-arms with the next delay,
    // so that timers are also started at late simulated times (where rounding could bite).
    std::function<void(Clock&, size_t)> arm = [&](Clock& clock, size_t i) {
      if (i == delays.size()) return;
      const int64_t t0 = clock.now_ns();
      const int64_t delay = delays[i];
      clock.start_timer(delay, [&, &clock = clock, t0, delay, i] {
        ++fired;
        const int64_t elapsed = clock.now_ns() - t0;
        EXPECT_GE(elapsed, delay) << "timer " << i << " fired early";
        // And not much later: the clock conversion rounds up by a few nanoseconds only.
        EXPECT_LE(elapsed, delay + 4) << "timer " << i << " fired late";
        ++checked;
        arm(clock, i + 1);
      });
    };
    auto sim = make_sim(config, [&](TimerNode& n) {
      for (size_t i = 0; i < delays.size(); ++i) {
        // Independent timers from start() as well as the chain.
        const int64_t t0 = n.env.clock.now_ns();
        const int64_t delay = delays[i];
        n.env.clock.start_timer(delay, [&, &clock = n.env.clock, t0, delay] {
          ++fired;
          EXPECT_GE(clock.now_ns() - t0, delay);
        });
      }
      arm(n.env.clock, 0);
    });
    sim->start_all();
    sim->run_for(20 * kNanosPerSecond);
    EXPECT_EQ(fired, 12 * 2 * static_cast<int>(delays.size()));
    EXPECT_EQ(checked, 12 * static_cast<int>(delays.size()));
    EXPECT_EQ(sim->stats().timers_fired, static_cast<uint64_t>(fired));
    // The drift really was large in both directions, so the property was exercised.
    int64_t min_drift = 0;
    int64_t max_drift = 0;
    for (NodeId id = 0; id < 12; ++id) {
      const int64_t d = sim->host(id).clock().drift_ppm();
      EXPECT_LE(d, 50000);
      EXPECT_GE(d, -50000);
      min_drift = std::min(min_drift, d);
      max_drift = std::max(max_drift, d);
    }
    EXPECT_LT(min_drift, -10000);
    EXPECT_GT(max_drift, 10000);
  }
}

// BUG (sim/sim_clock.cc): SimClock::to_sim_duration() returns (local * 1e6 / (1e6 + drift))
// rounded up, plus 1, as int64_t; for delay_ns = INT64_MAX (a common "never" value) and drift
// <= 0 that overflows, and start_timer() then adds it to now_ns() (signed overflow, UB). In
// practice the deadline wraps negative, the scheduler clamps it to now, and the timer fires at
// once instead of (effectively) never. The deadline should saturate at INT64_MAX.
TEST(SimClock, TimerWithMaximumDelayNeverFiresEarly) {
  for (int64_t max_drift : {0, 50000}) {
    SCOPED_TRACE(max_drift);
    SimConfig config;
    config.node_count = 4;
    config.max_clock_drift_ppm = max_drift;
    int fired = 0;
    auto sim = make_sim(config, [&](TimerNode& n) {
      n.env.clock.start_timer(INT64_MAX, [&] { ++fired; });
      n.env.clock.start_timer(INT64_MAX - 1, [&] { ++fired; });
    });
    sim->start_all();
    sim->run_for(kNanosPerSecond);
    EXPECT_EQ(fired, 0);
  }
}

TEST(SimClock, TimerWithAVeryLongDelayDoesNotFireEarly) {
  SimConfig config;
  config.node_count = 4;
  config.max_clock_drift_ppm = 50000;
  int fired = 0;
  auto sim = make_sim(
      config, [&](TimerNode& n) { n.env.clock.start_timer(INT64_MAX / 4, [&] { ++fired; }); });
  sim->start_all();
  sim->run_for(1000 * kNanosPerSecond);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(sim->host(0).clock().pending_timers(), 1u);
}

TEST(SimClock, LocalTimeAdvancesAtTheDriftedRate) {
  SimConfig config;
  config.node_count = 8;
  config.max_clock_drift_ppm = 50000;
  auto sim = make_sim(config, nullptr);
  std::vector<int64_t> before;
  for (NodeId id = 0; id < 8; ++id) before.push_back(sim->host(id).clock().now_ns());
  sim->run_for(10 * kNanosPerSecond);
  for (NodeId id = 0; id < 8; ++id) {
    const SimClock& clock = sim->host(id).clock();
    const int64_t expected =
        10 * kNanosPerSecond + 10 * kNanosPerSecond / 1000000 * clock.drift_ppm();
    EXPECT_NEAR(static_cast<double>(clock.now_ns() - before[id]), static_cast<double>(expected),
                1.0);
  }
}

TEST(SimClock, ZeroDriftClockAdvancesExactlyWithSimulatedTime) {
  SimConfig config;
  config.node_count = 2;
  config.max_clock_drift_ppm = 0;
  auto sim = make_sim(config, nullptr);
  const int64_t t0 = sim->host(0).clock().now_ns();
  sim->run_for(123456789);
  EXPECT_EQ(sim->host(0).clock().now_ns() - t0, 123456789);
  EXPECT_EQ(sim->host(0).clock().drift_ppm(), 0);
}

TEST(SimClock, NodesHaveDifferentOrigins) {
  SimConfig config;
  config.node_count = 4;
  auto sim = make_sim(config, nullptr);
  std::set<int64_t> origins;
  for (NodeId id = 0; id < 4; ++id) origins.insert(sim->host(id).clock().now_ns());
  EXPECT_GT(origins.size(), 1u);
}

TEST(SimClock, TimerNeverFiresInsideStartTimerAndNegativeDelayActsAsZero) {
  SimConfig config;
  config.node_count = 1;
  bool fired = false;
  bool returned = false;
  int64_t t0 = 0;
  int64_t at = -1;
  auto sim = make_sim(config, [&](TimerNode& n) {
    t0 = n.env.clock.now_ns();
    n.env.clock.start_timer(-1000, [&, &clock = n.env.clock] {
      EXPECT_TRUE(returned) << "fired re-entrantly";
      fired = true;
      at = clock.now_ns();
    });
    returned = true;
    EXPECT_FALSE(fired);
  });
  sim->start_all();
  sim->run_for(kNanosPerMilli);
  EXPECT_TRUE(fired);
  EXPECT_GE(at, t0);
  EXPECT_LE(at, t0 + 4);
}

TEST(SimClock, TimersWithTheSameDeadlineFireInStartOrder) {
  SimConfig config;
  config.node_count = 1;
  std::vector<int> order;
  auto sim = make_sim(config, [&](TimerNode& n) {
    for (int i = 0; i < 20; ++i) {
      n.env.clock.start_timer(kNanosPerMilli, [&order, i] { order.push_back(i); });
    }
  });
  sim->start_all();
  sim->run_for(10 * kNanosPerMilli);
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
}

TEST(SimClock, CancelPreventsFiringAndReturnsTrueOnceThenFalse) {
  SimConfig config;
  config.node_count = 1;
  std::vector<int> fired;
  TimerId a, b, c;
  Clock* clock = nullptr;
  auto sim = make_sim(config, [&](TimerNode& n) {
    clock = &n.env.clock;
    a = clock->start_timer(kNanosPerMilli, [&] { fired.push_back(1); });
    b = clock->start_timer(2 * kNanosPerMilli, [&] { fired.push_back(2); });
    c = clock->start_timer(3 * kNanosPerMilli, [&] { fired.push_back(3); });
  });
  sim->start_all();
  sim->run_for(kNanosPerMicro);
  ASSERT_NE(clock, nullptr);
  EXPECT_NE(a.value, 0u);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_EQ(sim->host(0).clock().pending_timers(), 3u);
  EXPECT_TRUE(clock->cancel_timer(b));
  EXPECT_FALSE(clock->cancel_timer(b));
  EXPECT_EQ(sim->host(0).clock().pending_timers(), 2u);
  sim->run_for(10 * kNanosPerMilli);
  EXPECT_THAT(fired, ElementsAre(1, 3));
  EXPECT_EQ(sim->stats().timers_fired, 2u);
  // Already fired, never existed, the zero id: all false.
  EXPECT_FALSE(clock->cancel_timer(a));
  EXPECT_FALSE(clock->cancel_timer(TimerId{}));
  EXPECT_FALSE(clock->cancel_timer(TimerId{123456}));
}

TEST(SimClock, CancelFromAnEarlierTimerAtTheSameInstantPreventsFiring) {
  SimConfig config;
  config.node_count = 1;
  std::vector<int> fired;
  auto sim = make_sim(config, [&](TimerNode& n) {
    Clock& clock = n.env.clock;
    auto second = std::make_shared<TimerId>();
    clock.start_timer(kNanosPerMilli, [&, &clock = clock, second] {
      fired.push_back(1);
      EXPECT_TRUE(clock.cancel_timer(*second));
    });
    *second = clock.start_timer(kNanosPerMilli, [&] { fired.push_back(2); });
  });
  sim->start_all();
  sim->run_for(10 * kNanosPerMilli);
  EXPECT_THAT(fired, ElementsAre(1));
}

TEST(SimClock, CrashedNodesPendingTimersNeverFire) {
  SimConfig config;
  config.node_count = 2;
  int fired_first_life = 0;
  int fired_second_life = 0;
  int boots = 0;
  auto sim = make_sim(config, [&](TimerNode& n) {
    if (n.env.self != 0) return;
    int* counter = boots++ == 0 ? &fired_first_life : &fired_second_life;
    for (int i = 1; i <= 10; ++i) {
      n.env.clock.start_timer(i * kNanosPerMilli, [counter] { ++*counter; });
    }
  });
  sim->start_all();
  sim->run_for(3 * kNanosPerMilli + kNanosPerMilli / 2);
  const int before_crash = fired_first_life;
  EXPECT_GE(before_crash, 2);
  EXPECT_LE(before_crash, 4);
  ASSERT_TRUE(sim->crash(0).ok());
  EXPECT_EQ(sim->host(0).clock().pending_timers(), 0u);
  sim->run_for(kNanosPerMilli);
  // Restart before the old deadlines pass: the new incarnation must not see the old timers.
  ASSERT_TRUE(sim->start(0).ok());
  sim->run_for(100 * kNanosPerMilli);
  EXPECT_EQ(fired_first_life, before_crash);
  EXPECT_EQ(fired_second_life, 10);
}

TEST(SimClock, PausedNodesTimersFireOnlyAfterResumeInOriginalOrder) {
  SimConfig config;
  config.node_count = 1;
  config.max_clock_drift_ppm = 0;
  std::vector<int> order;
  std::vector<int64_t> fired_at;
  Simulation* simp = nullptr;
  auto sim = make_sim(config, [&](TimerNode& n) {
    // Started in reverse deadline order; must fire in deadline order.
    for (int i = 4; i >= 1; --i) {
      n.env.clock.start_timer(i * kNanosPerMilli, [&, i] {
        order.push_back(i);
        fired_at.push_back(simp->now_ns());
      });
    }
    n.env.clock.start_timer(30 * kNanosPerMilli, [&] {
      order.push_back(30);
      fired_at.push_back(simp->now_ns());
    });
  });
  simp = sim.get();
  sim->start_all();
  ASSERT_TRUE(sim->step());  // runs start()
  const int64_t paused_at = sim->now_ns();
  ASSERT_TRUE(sim->pause(0, 10 * kNanosPerMilli).ok());
  sim->run_for(9 * kNanosPerMilli);
  EXPECT_TRUE(order.empty()) << "a timer fired while the node was paused";
  EXPECT_TRUE(sim->host(0).paused());
  sim->run_for(5 * kNanosPerMilli);
  EXPECT_FALSE(sim->host(0).paused());
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 4));
  for (int64_t t : fired_at) EXPECT_GE(t, paused_at + 10 * kNanosPerMilli);
  sim->run_for(30 * kNanosPerMilli);
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 4, 30));
  // The timer due after the pause ended was not delayed by it.
  EXPECT_LE(fired_at.back(), paused_at + 30 * kNanosPerMilli + 10);
}

TEST(SimClock, CrashDuringPauseDiscardsDeferredTimers) {
  SimConfig config;
  config.node_count = 1;
  int fired = 0;
  int boots = 0;
  auto sim = make_sim(config, [&](TimerNode& n) {
    if (boots++ > 0) return;
    for (int i = 1; i <= 5; ++i) n.env.clock.start_timer(i * kNanosPerMilli, [&] { ++fired; });
  });
  sim->start_all();
  ASSERT_TRUE(sim->step());
  ASSERT_TRUE(sim->pause(0, 20 * kNanosPerMilli).ok());
  sim->run_for(10 * kNanosPerMilli);  // every timer came due and was deferred
  ASSERT_TRUE(sim->crash(0).ok());
  ASSERT_TRUE(sim->start(0).ok());
  sim->run_for(50 * kNanosPerMilli);
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(sim->host(0).paused());
}

}  // namespace
}  // namespace walle::sim

// Timer and TimerGroup (core/env/timer.h): owned timers, cancelled with their owner.
namespace walle::sim {
namespace {

TEST(Timer, RestartingReplacesThePendingCallAndTheOwnerCancelsOnDestruction) {
  std::vector<std::string> fired;
  std::unique_ptr<Timer> timer;
  std::unique_ptr<TimerGroup> group;
  SimConfig config;
  config.node_count = 1;
  auto sim = make_sim(config, [&](TimerNode& node) {
    timer = std::make_unique<Timer>(node.env.clock);
    group = std::make_unique<TimerGroup>(node.env.clock);
    timer->start(10 * kNanosPerMilli, [&] { fired.push_back("first"); });
    const int64_t due = timer->due_ns();
    timer->start(5 * kNanosPerMilli, [&] { fired.push_back("second"); });  // replaces it
    EXPECT_LT(timer->due_ns(), due);
    group->start(1 * kNanosPerMilli, [&] { fired.push_back("group a"); });
    group->start(2 * kNanosPerMilli, [&] { fired.push_back("group b"); });
    group->start(50 * kNanosPerMilli, [&] { fired.push_back("group late"); });
  });
  ASSERT_NE(sim, nullptr);
  sim->start_all();
  sim->run_for(20 * kNanosPerMilli);
  EXPECT_THAT(fired, ElementsAre("group a", "group b", "second"));
  EXPECT_FALSE(timer->pending());
  EXPECT_EQ(group->pending(), 1u);
  // The owner goes: what it still had pending never runs.
  timer->start(1 * kNanosPerMilli, [&] { fired.push_back("after destruction"); });
  timer.reset();
  group.reset();
  sim->run_for(100 * kNanosPerMilli);
  EXPECT_EQ(fired.size(), 3u);
}

TEST(Timer, ACallbackMayStartItsOwnTimerAgain) {
  int ticks = 0;
  std::unique_ptr<Timer> timer;
  std::function<void()> tick;
  SimConfig config;
  config.node_count = 1;
  auto sim = make_sim(config, [&](TimerNode& node) {
    timer = std::make_unique<Timer>(node.env.clock);
    tick = [&] {
      EXPECT_FALSE(timer->pending());  // idle while its callback runs
      if (++ticks < 5) timer->start(kNanosPerMilli, [&] { tick(); });
    };
    timer->start(kNanosPerMilli, [&] { tick(); });
  });
  ASSERT_NE(sim, nullptr);
  sim->start_all();
  sim->run_for(100 * kNanosPerMilli);
  EXPECT_EQ(ticks, 5);
  EXPECT_FALSE(timer->pending());
}

}  // namespace
}  // namespace walle::sim
