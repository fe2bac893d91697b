#include "sim/scheduler.h"

#include <algorithm>

#include "core/util/check.h"

namespace walle::sim {

void Scheduler::schedule_at(int64_t at_ns, Action action) {
  heap_.push_back(Event{std::max(at_ns, now_ns_), next_seq_++, std::move(action)});
  std::push_heap(heap_.begin(), heap_.end(), runs_later);
}

int64_t Scheduler::next_time_ns() const {
  WALLE_CHECK(!heap_.empty());
  return heap_.front().at_ns;
}

bool Scheduler::step() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), runs_later);
  Event event = std::move(heap_.back());
  heap_.pop_back();
  WALLE_CHECK(event.at_ns >= now_ns_);
  now_ns_ = event.at_ns;
  ++events_run_;
  event.action();
  return true;
}

void Scheduler::run_until(int64_t until_ns) {
  while (!heap_.empty() && heap_.front().at_ns <= until_ns) step();
  now_ns_ = std::max(now_ns_, until_ns);
}

}  // namespace walle::sim
