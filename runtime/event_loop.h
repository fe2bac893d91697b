#pragma once

// The production event loop: one thread, one epoll set (docs/operations.md, "The server").
// It is the node's Clock (CLOCK_MONOTONIC, every timer behind one timerfd), the disk's
// CompletionSink (other threads post, an eventfd wakes the loop, posted functions run in
// order, in batches), the watcher of sockets for net/, and, through a signalfd, where
// SIGTERM and SIGINT arrive. No other thread touches what runs on it.

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/clock.h"
#include "disk/completion_sink.h"
#include "net/poller.h"

namespace walle::runtime {

class EventLoop final : public Clock, public disk::CompletionSink, public net::Poller {
 public:
  static absl::StatusOr<std::unique_ptr<EventLoop>> create();
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Clock.
  int64_t now_ns() const override;
  TimerId start_timer(int64_t delay_ns, absl::AnyInvocable<void()> fire) override;
  bool cancel_timer(TimerId id) override;

  // CompletionSink: from any thread; runs `fn` on the loop, after the current callback, in
  // posting order.
  void post(absl::AnyInvocable<void()> fn) override;

  // Poller. Calls `callback` on the loop whenever `fd` is ready for `events`
  // (level-triggered). The loop does not own `fd`; unwatch() it before closing it.
  absl::Status watch(int fd, uint32_t events, FdCallback callback) override;
  absl::Status modify(int fd, uint32_t events) override;
  void unwatch(int fd) override;
  // On the loop thread only: runs `fn` after the current callback, without the lock and the
  // eventfd that post() needs.
  void defer(absl::AnyInvocable<void()> fn) override;

  // SIGTERM and SIGINT are blocked in every thread created after this call (call it first in
  // main) and delivered here instead, with the signal number.
  absl::Status handle_signals(absl::AnyInvocable<void(int signal)> on_signal);

  // Runs until stop(). Returns the first error of epoll itself (never a callback's).
  absl::Status run();
  // Makes run() return after the current callback (or at once, if it has not started yet).
  // From the loop thread or any other.
  void stop();

 private:
  EventLoop(int epoll_fd, int timer_fd, int wake_fd);
  void arm_timer_fd();
  void fire_due_timers();
  void run_posted();
  void read_signals();
  void run_deferred();

  int epoll_fd_;
  int timer_fd_;
  int wake_fd_;
  int signal_fd_ = -1;

  // A callback may unwatch its own descriptor (the shared_ptr keeps it alive while it runs),
  // and a new watch of a reused descriptor number gets a new generation, so a stale event of
  // the old one reaches nobody.
  struct Watch {
    std::shared_ptr<FdCallback> callback;
    uint32_t generation = 0;
  };
  absl::flat_hash_map<int, Watch> watched_;
  uint32_t next_generation_ = 1;
  // Timers by (deadline, id): the earliest is the timerfd's deadline.
  std::map<std::pair<int64_t, uint64_t>, absl::AnyInvocable<void()>> timers_;
  absl::flat_hash_map<uint64_t, int64_t> timer_deadlines_;  // id -> deadline, for cancel
  uint64_t next_timer_id_ = 1;
  int64_t armed_deadline_ns_ = -1;

  std::mutex posted_mu_;
  std::deque<absl::AnyInvocable<void()>> posted_;  // guarded by posted_mu_
  bool wake_pending_ = false;                      // guarded by posted_mu_

  std::vector<absl::AnyInvocable<void()>> deferred_;  // loop thread only

  absl::AnyInvocable<void(int)> on_signal_;
  std::atomic<bool> stopping_{false};
};

}  // namespace walle::runtime
