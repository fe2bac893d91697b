#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include "absl/functional/any_invocable.h"
#include "disk/completion_sink.h"

namespace walle::disk {

// A CompletionSink for tests and tools: post() queues the function; whichever thread calls
// run_until_idle() or wait_and_run_one() runs it (that thread plays the event loop; call them
// from one thread only). Functions run outside the lock, so they may post more.
class BlockingCompletionQueue final : public CompletionSink {
 public:
  BlockingCompletionQueue() = default;
  BlockingCompletionQueue(const BlockingCompletionQueue&) = delete;
  BlockingCompletionQueue& operator=(const BlockingCompletionQueue&) = delete;
  // Functions still queued are destroyed without running.
  ~BlockingCompletionQueue() override = default;

  void post(absl::AnyInvocable<void()> fn) override;

  // Runs queued functions, including ones posted meanwhile, until the queue is empty; does not
  // wait for I/O still in flight. Returns how many ran.
  size_t run_until_idle();

  // Blocks until a function is queued, then runs it.
  void wait_and_run_one();

  // As above, giving up after `timeout`: returns false if nothing ran.
  bool wait_and_run_one_for(std::chrono::nanoseconds timeout);

  // Functions posted and not yet run.
  size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable posted_;
  std::deque<absl::AnyInvocable<void()>> queue_;
};

}  // namespace walle::disk
