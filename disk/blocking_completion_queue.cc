#include "disk/blocking_completion_queue.h"

#include <utility>

namespace walle::disk {

void BlockingCompletionQueue::post(absl::AnyInvocable<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  posted_.notify_one();
}

size_t BlockingCompletionQueue::run_until_idle() {
  size_t ran = 0;
  for (;;) {
    absl::AnyInvocable<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return ran;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
    ++ran;
  }
}

void BlockingCompletionQueue::wait_and_run_one() {
  absl::AnyInvocable<void()> fn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    posted_.wait(lock, [this] { return !queue_.empty(); });
    fn = std::move(queue_.front());
    queue_.pop_front();
  }
  fn();
}

bool BlockingCompletionQueue::wait_and_run_one_for(std::chrono::nanoseconds timeout) {
  absl::AnyInvocable<void()> fn;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!posted_.wait_for(lock, timeout, [this] { return !queue_.empty(); })) return false;
    fn = std::move(queue_.front());
    queue_.pop_front();
  }
  fn();
  return true;
}

size_t BlockingCompletionQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace walle::disk
