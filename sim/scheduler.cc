#include "sim/scheduler.h"

#include <algorithm>
#include <utility>

#include "core/util/check.h"

namespace walle::sim {

void Scheduler::schedule_at(int64_t at_ns, Action action, Owner* owner) {
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(actions_.size());
    actions_.push_back(std::move(action));
    owners_.push_back(owner);
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    actions_[slot] = std::move(action);
    owners_[slot] = owner;
  }
  heap_.push_back(Key{std::max(at_ns, now_ns_), next_seq_++, slot});
  std::push_heap(heap_.begin(), heap_.end(), runs_later);
}

int64_t Scheduler::next_time_ns() const {
  WALLE_CHECK(!heap_.empty());
  return heap_.front().at_ns;
}

bool Scheduler::step() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), runs_later);
  const Key key = heap_.back();
  heap_.pop_back();
  // Moved out before running: the action may schedule more and grow actions_.
  Action action = std::move(actions_[key.slot]);
  actions_[key.slot] = nullptr;
  Owner* owner = std::exchange(owners_[key.slot], nullptr);
  free_slots_.push_back(key.slot);
  WALLE_CHECK(key.at_ns >= now_ns_);
  now_ns_ = key.at_ns;
  ++events_run_;
  if (owner == nullptr) {
    action();
  } else if (action) {  // empty: cancelled
    owner->run_owned(action);
  }
  return true;
}

void Scheduler::cancel_owned(const Owner* owner) {
  for (size_t slot = 0; slot < actions_.size(); ++slot) {
    if (owners_[slot] == owner) actions_[slot] = nullptr;
  }
}

void Scheduler::run_until(int64_t until_ns) {
  while (!heap_.empty() && heap_.front().at_ns <= until_ns) step();
  now_ns_ = std::max(now_ns_, until_ns);
}

}  // namespace walle::sim
