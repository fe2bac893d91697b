#include "core/env/timer.h"

#include <utility>

#include "core/util/check.h"

namespace walle {

void Timer::start(int64_t delay_ns, absl::AnyInvocable<void()> fire) {
  cancel();
  due_ns_ = clock_->now_ns() + delay_ns;
  id_ = clock_->start_timer(delay_ns, [this, fire = std::move(fire)]() mutable {
    id_.reset();
    fire();
  });
  WALLE_CHECK(id_->value != 0);  // zero is never a live timer (clock.h)
}

void Timer::cancel() {
  if (!id_) return;
  clock_->cancel_timer(*id_);
  id_.reset();
}

void TimerGroup::start(int64_t delay_ns, absl::AnyInvocable<void()> fire) {
  const uint64_t key = next_key_++;
  const TimerId id = clock_->start_timer(delay_ns, [this, key, fire = std::move(fire)]() mutable {
    pending_.erase(key);
    fire();
  });
  pending_.emplace(key, id);
}

void TimerGroup::cancel_all() {
  for (const auto& [key, id] : pending_) clock_->cancel_timer(id);
  pending_.clear();
}

}  // namespace walle
