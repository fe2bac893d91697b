#include "runtime/event_loop.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "disk/errno_status.h"

namespace walle::runtime {
namespace {

int64_t monotonic_ns() {
  timespec ts;
  WALLE_CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  return static_cast<int64_t>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::create() {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return disk::ErrnoToStatus(errno, "epoll_create1");
  const int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) {
    const int err = errno;
    close_fd(epoll_fd);
    return disk::ErrnoToStatus(err, "timerfd_create");
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int err = errno;
    close_fd(epoll_fd);
    close_fd(timer_fd);
    return disk::ErrnoToStatus(err, "eventfd");
  }
  std::unique_ptr<EventLoop> loop(new EventLoop(epoll_fd, timer_fd, wake_fd));
  if (absl::Status s = loop->watch(timer_fd, EPOLLIN, [l = loop.get()](uint32_t) { l->fire_due_timers(); });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = loop->watch(wake_fd, EPOLLIN, [l = loop.get()](uint32_t) { l->run_posted(); });
      !s.ok()) {
    return s;
  }
  return loop;
}

EventLoop::EventLoop(int epoll_fd, int timer_fd, int wake_fd)
    : epoll_fd_(epoll_fd), timer_fd_(timer_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  close_fd(signal_fd_);
  close_fd(wake_fd_);
  close_fd(timer_fd_);
  close_fd(epoll_fd_);
}

int64_t EventLoop::now_ns() const { return monotonic_ns(); }

TimerId EventLoop::start_timer(int64_t delay_ns, absl::AnyInvocable<void()> fire) {
  const uint64_t id = next_timer_id_++;
  const int64_t deadline = now_ns() + std::max<int64_t>(0, delay_ns);
  timers_.emplace(std::pair{deadline, id}, std::move(fire));
  timer_deadlines_.emplace(id, deadline);
  if (armed_deadline_ns_ < 0 || deadline < armed_deadline_ns_) arm_timer_fd();
  return TimerId{id};
}

bool EventLoop::cancel_timer(TimerId id) {
  auto it = timer_deadlines_.find(id.value);
  if (it == timer_deadlines_.end()) return false;
  timers_.erase(std::pair{it->second, id.value});
  timer_deadlines_.erase(it);
  // The timerfd may fire early for a cancelled timer: fire_due_timers() then re-arms.
  return true;
}

void EventLoop::arm_timer_fd() {
  itimerspec spec{};
  if (!timers_.empty()) {
    // Absolute time; a deadline already past fires at once (0 would disarm: use 1 ns).
    const int64_t deadline = std::max<int64_t>(1, timers_.begin()->first.first);
    spec.it_value.tv_sec = deadline / kNanosPerSecond;
    spec.it_value.tv_nsec = deadline % kNanosPerSecond;
    armed_deadline_ns_ = deadline;
  } else {
    armed_deadline_ns_ = -1;
  }
  WALLE_CHECK(timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) == 0);
}

void EventLoop::fire_due_timers() {
  uint64_t expirations;
  while (::read(timer_fd_, &expirations, sizeof(expirations)) > 0) {
  }
  const int64_t now = now_ns();
  // Only timers due now: ones a callback starts with no delay run on the next round, so a
  // timer that re-arms itself at once cannot starve sockets.
  std::vector<absl::AnyInvocable<void()>> due;
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto it = timers_.begin();
    timer_deadlines_.erase(it->first.second);
    due.push_back(std::move(it->second));
    timers_.erase(it);
  }
  arm_timer_fd();
  for (auto& fire : due) {
    if (stopping_.load(std::memory_order_relaxed)) break;
    fire();
  }
}

void EventLoop::post(absl::AnyInvocable<void()> fn) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (wake) {
    const uint64_t one = 1;
    // EAGAIN only if the counter is near overflow, which a pending wake-up rules out.
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
}

void EventLoop::run_posted() {
  uint64_t count;
  (void)!::read(wake_fd_, &count, sizeof(count));
  std::deque<absl::AnyInvocable<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    batch.swap(posted_);
    wake_pending_ = false;
  }
  // One batch per wake-up: what these post runs on the next round, after sockets had a turn.
  for (auto& fn : batch) fn();
}

namespace {
uint64_t event_key(int fd, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}
}  // namespace

absl::Status EventLoop::watch(int fd, uint32_t events, FdCallback callback) {
  const uint32_t generation = next_generation_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = event_key(fd, generation);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return disk::ErrnoToStatus(errno, absl::StrCat("epoll_ctl add fd ", fd));
  }
  watched_[fd] = Watch{std::make_shared<FdCallback>(std::move(callback)), generation};
  return absl::OkStatus();
}

absl::Status EventLoop::modify(int fd, uint32_t events) {
  auto it = watched_.find(fd);
  if (it == watched_.end()) return absl::NotFoundError(absl::StrCat("fd ", fd, " is not watched"));
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = event_key(fd, it->second.generation);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    return disk::ErrnoToStatus(errno, absl::StrCat("epoll_ctl mod fd ", fd));
  }
  return absl::OkStatus();
}

void EventLoop::unwatch(int fd) {
  if (watched_.erase(fd) == 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

absl::Status EventLoop::handle_signals(absl::AnyInvocable<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    return absl::InternalError("pthread_sigmask failed");
  }
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return disk::ErrnoToStatus(errno, "signalfd");
  on_signal_ = std::move(on_signal);
  return watch(signal_fd_, EPOLLIN, [this](uint32_t) { read_signals(); });
}

void EventLoop::read_signals() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    if (on_signal_) on_signal_(static_cast<int>(info.ssi_signo));
  }
}

absl::Status EventLoop::run() {
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopping_.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return disk::ErrnoToStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < n && !stopping_.load(std::memory_order_relaxed); ++i) {
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      auto it = watched_.find(fd);
      // Unwatched (or watched anew) by an earlier callback of this round: not for it.
      if (it == watched_.end() || it->second.generation != events[i].data.u64 >> 32) continue;
      std::shared_ptr<FdCallback> callback = it->second.callback;
      (*callback)(events[i].events);
      run_deferred();
    }
  }
  stopping_.store(false, std::memory_order_relaxed);  // a later run() runs again
  return absl::OkStatus();
}

void EventLoop::defer(absl::AnyInvocable<void()> fn) { deferred_.push_back(std::move(fn)); }

void EventLoop::run_deferred() {
  // Deferred work may defer more: it runs too, before the next descriptor's callback.
  for (size_t i = 0; i < deferred_.size(); ++i) {
    absl::AnyInvocable<void()> fn = std::move(deferred_[i]);
    fn();
  }
  deferred_.clear();
}

void EventLoop::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  post([] {});  // wakes epoll_wait if called from another thread
}

}  // namespace walle::runtime
