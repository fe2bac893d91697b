#include "sim/scheduler.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walle::sim {
namespace {

using ::testing::ElementsAre;

TEST(Scheduler, EventsRunInTimeOrderRegardlessOfScheduleOrder) {
  Scheduler s;
  std::vector<int64_t> times;
  for (int64_t t : {50, 10, 40, 20, 30}) {
    s.schedule_at(t, [&s, &times] { times.push_back(s.now_ns()); });
  }
  while (s.step()) {
  }
  EXPECT_THAT(times, ElementsAre(10, 20, 30, 40, 50));
  EXPECT_EQ(s.events_run(), 5u);
  EXPECT_EQ(s.now_ns(), 50);
}

TEST(Scheduler, SameTimeEventsRunInFifoScheduleOrder) {
  Scheduler s;
  std::vector<int> order;
  // Interleave two instants so that heap reshuffling would show if seq were ignored.
  for (int i = 0; i < 100; ++i) {
    s.schedule_at(i % 2 == 0 ? 7 : 3, [&order, i] { order.push_back(i); });
  }
  while (s.step()) {
  }
  std::vector<int> expected;
  for (int i = 1; i < 100; i += 2) expected.push_back(i);
  for (int i = 0; i < 100; i += 2) expected.push_back(i);
  EXPECT_EQ(order, expected);
}

TEST(Scheduler, EventsScheduledDuringAnEventAtTheSameTimeRunAfterIt) {
  Scheduler s;
  std::vector<std::string> order;
  s.schedule_at(5, [&] {
    order.push_back("a");
    s.schedule_at(5, [&] { order.push_back("c"); });
    s.schedule_after(0, [&] { order.push_back("d"); });
  });
  s.schedule_at(5, [&] { order.push_back("b"); });
  while (s.step()) {
  }
  EXPECT_THAT(order, ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(s.now_ns(), 5);
}

TEST(Scheduler, SchedulingInThePastClampsToNow) {
  Scheduler s;
  s.run_until(1000);
  ASSERT_EQ(s.now_ns(), 1000);
  int64_t ran_at = -1;
  s.schedule_at(10, [&] { ran_at = s.now_ns(); });
  EXPECT_EQ(s.next_time_ns(), 1000);
  ASSERT_TRUE(s.step());
  EXPECT_EQ(ran_at, 1000);
  EXPECT_EQ(s.now_ns(), 1000);
}

TEST(Scheduler, NegativeDelayIsTreatedAsZero) {
  Scheduler s;
  s.run_until(500);
  int64_t ran_at = -1;
  s.schedule_after(-100, [&] { ran_at = s.now_ns(); });
  ASSERT_TRUE(s.step());
  EXPECT_EQ(ran_at, 500);
}

TEST(Scheduler, PastEventRunsAfterEarlierScheduledEventsAtNow) {
  Scheduler s;
  s.run_until(100);
  std::vector<int> order;
  s.schedule_at(100, [&] { order.push_back(1); });
  s.schedule_at(0, [&] { order.push_back(2); });  // clamped to 100, scheduled later
  while (s.step()) {
  }
  EXPECT_THAT(order, ElementsAre(1, 2));
}

TEST(Scheduler, RunUntilAdvancesTimeEvenWithNoEvents) {
  Scheduler s;
  EXPECT_EQ(s.now_ns(), 0);
  s.run_until(12345);
  EXPECT_EQ(s.now_ns(), 12345);
  EXPECT_EQ(s.events_run(), 0u);
}

TEST(Scheduler, RunUntilRunsEventsAtOrBeforeTheLimitOnly) {
  Scheduler s;
  std::vector<int64_t> times;
  for (int64_t t : {100, 200, 201, 300}) {
    s.schedule_at(t, [&s, &times] { times.push_back(s.now_ns()); });
  }
  s.run_until(200);
  EXPECT_THAT(times, ElementsAre(100, 200));
  EXPECT_EQ(s.now_ns(), 200);
  EXPECT_EQ(s.pending(), 2u);
  EXPECT_EQ(s.next_time_ns(), 201);
}

TEST(Scheduler, RunUntilRunsEventsScheduledByEventsWithinTheLimit) {
  Scheduler s;
  std::vector<int64_t> times;
  s.schedule_at(10, [&] {
    times.push_back(s.now_ns());
    s.schedule_after(10, [&] { times.push_back(s.now_ns()); });
    s.schedule_after(1000, [&] { times.push_back(s.now_ns()); });
  });
  s.run_until(100);
  EXPECT_THAT(times, ElementsAre(10, 20));
  EXPECT_EQ(s.pending(), 1u);
}

TEST(Scheduler, RunUntilAnEarlierTimeNeverMovesTimeBackwards) {
  Scheduler s;
  s.run_until(1000);
  s.run_until(10);
  EXPECT_EQ(s.now_ns(), 1000);
}

TEST(Scheduler, StepReturnsFalseWhenEmpty) {
  Scheduler s;
  EXPECT_FALSE(s.step());
  s.schedule_at(3, [] {});
  EXPECT_TRUE(s.step());
  EXPECT_FALSE(s.step());
  EXPECT_EQ(s.now_ns(), 3);
  EXPECT_EQ(s.events_run(), 1u);
  EXPECT_EQ(s.pending(), 0u);
}

// Records the actions handed to it, as a machine runs its live process's callbacks.
class RecordingOwner final : public Scheduler::Owner {
 public:
  void run_owned(Scheduler::Action& action) override {
    ++runs;
    action();
  }
  int runs = 0;
};

TEST(Scheduler, CancelledOwnedActionsAreDestroyedAtOnceAndTheirEventsDoNothing) {
  Scheduler s;
  RecordingOwner owner;
  RecordingOwner other;
  auto held = std::make_shared<int>(0);  // stands for a file a dead process still held
  std::vector<int> ran;
  s.schedule_at(10, [&ran, held] { ran.push_back(1); }, &owner);
  s.schedule_at(20, [&ran] { ran.push_back(2); }, &other);
  s.schedule_at(30, [&ran] { ran.push_back(3); });
  EXPECT_EQ(held.use_count(), 2);
  s.cancel_owned(&owner);
  EXPECT_EQ(held.use_count(), 1);  // destroyed now, not when its time comes
  while (s.step()) {
  }
  EXPECT_THAT(ran, ElementsAre(2, 3));
  EXPECT_EQ(owner.runs, 0);
  EXPECT_EQ(other.runs, 1);
  EXPECT_EQ(s.events_run(), 3u);  // the cancelled event still came due
  // A reused slot belongs to its new owner only.
  s.schedule_at(40, [&ran] { ran.push_back(4); }, &owner);
  s.cancel_owned(&other);
  while (s.step()) {
  }
  EXPECT_THAT(ran, ElementsAre(2, 3, 4));
  EXPECT_EQ(owner.runs, 1);
}

}  // namespace
}  // namespace walle::sim
