#pragma once

// Timers owned by the object that starts them. Destroying the owner cancels what is pending,
// so a callback capturing `this` never runs after its object is gone (a replica dropped with
// its stream, a coordinator reset): the raw Clock API leaves that to every caller.

#include <cstdint>
#include <optional>

#include "absl/container/btree_map.h"
#include "absl/functional/any_invocable.h"
#include "core/env/clock.h"

namespace walle {

// One pending callback at a time.
class Timer {
 public:
  explicit Timer(Clock& clock) : clock_(&clock) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Calls `fire` once, `delay_ns` (local time) from now; a pending call is cancelled first.
  // The timer is idle again when `fire` runs, so `fire` may start it anew.
  void start(int64_t delay_ns, absl::AnyInvocable<void()> fire);
  // Cancels the pending call, if any.
  void cancel();
  bool pending() const { return id_.has_value(); }
  // When the pending call was asked for: now + delay_ns at start (local time; in the past
  // for a negative delay, which fires at once). Meaningful only while pending().
  int64_t due_ns() const { return due_ns_; }

 private:
  Clock* clock_;
  std::optional<TimerId> id_;
  int64_t due_ns_ = 0;
};

// Any number of independent one-shot callbacks, all cancelled when the group goes.
class TimerGroup {
 public:
  explicit TimerGroup(Clock& clock) : clock_(&clock) {}
  ~TimerGroup() { cancel_all(); }
  TimerGroup(const TimerGroup&) = delete;
  TimerGroup& operator=(const TimerGroup&) = delete;

  // Calls `fire` once, `delay_ns` (local time) from now.
  void start(int64_t delay_ns, absl::AnyInvocable<void()> fire);
  void cancel_all();
  size_t pending() const { return pending_.size(); }

 private:
  Clock* clock_;
  uint64_t next_key_ = 0;
  absl::btree_map<uint64_t, TimerId> pending_;  // by the order they were started
};

}  // namespace walle
