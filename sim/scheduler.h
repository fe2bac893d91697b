#pragma once

#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace walle::sim {

// The discrete-event core: a min-heap of events ordered by (simulated time, sequence number).
// The sequence number breaks ties in scheduling order, so two events at the same instant run
// in the order they were scheduled: nothing depends on heap internals or pointer values.
class Scheduler {
 public:
  using Action = absl::AnyInvocable<void()>;

  // Runs the actions scheduled on its behalf (a machine runs them for its live process) and
  // can have them all destroyed at once (when that process crashes).
  class Owner {
   public:
    virtual void run_owned(Action& action) = 0;

   protected:
    ~Owner() = default;
  };

  int64_t now_ns() const { return now_ns_; }
  uint64_t events_run() const { return events_run_; }
  size_t pending() const { return heap_.size(); }

  // Schedules `action` at `at_ns` (clamped to now: the past is not reachable); an owner's
  // action is handed to owner->run_owned() when due.
  void schedule_at(int64_t at_ns, Action action, Owner* owner = nullptr);
  // Destroys every pending action of `owner` now. Their events still come due, as no-ops.
  void cancel_owned(const Owner* owner);
  void schedule_after(int64_t delay_ns, Action action) {
    // Saturating: an enormous delay means "never", not a wrap into the past.
    const int64_t delay = delay_ns > 0 ? delay_ns : 0;
    schedule_at(delay > INT64_MAX - now_ns_ ? INT64_MAX : now_ns_ + delay, std::move(action));
  }

  // Time of the earliest pending event; requires pending() > 0.
  int64_t next_time_ns() const;

  // Runs the earliest event, advancing time to it. Returns false if nothing was pending.
  bool step();

  // Runs every event scheduled at or before `until_ns`, then sets the time to `until_ns`.
  void run_until(int64_t until_ns);

 private:
  // The heap holds small keys; actions stay put in slots, so sifting moves 24 bytes, not
  // callables.
  struct Key {
    int64_t at_ns;
    uint64_t seq;
    uint32_t slot;
  };
  // std heap functions build a max-heap, so "less" means "runs later".
  static bool runs_later(const Key& a, const Key& b) {
    return a.at_ns != b.at_ns ? a.at_ns > b.at_ns : a.seq > b.seq;
  }

  std::vector<Key> heap_;
  std::vector<Action> actions_;
  std::vector<Owner*> owners_;  // by slot, as actions_
  std::vector<uint32_t> free_slots_;
  int64_t now_ns_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
};

}  // namespace walle::sim
