#include "runtime/event_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace walle::runtime {
namespace {

std::unique_ptr<EventLoop> make_loop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::create();
  EXPECT_TRUE(loop.ok()) << loop.status();
  return std::move(*loop);
}

TEST(EventLoop, TimersFireInDeadlineOrderNoEarlierThanAsked) {
  auto loop = make_loop();
  std::vector<int> order;
  const int64_t start = loop->now_ns();
  int64_t first_fired_at = 0;
  loop->start_timer(20 * kNanosPerMilli, [&] {
    order.push_back(2);
    loop->stop();
  });
  loop->start_timer(5 * kNanosPerMilli, [&] {
    order.push_back(1);
    first_fired_at = loop->now_ns();
  });
  ASSERT_TRUE(loop->run().ok());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_GE(first_fired_at - start, 5 * kNanosPerMilli);
}

TEST(EventLoop, ACancelledTimerNeverFires) {
  auto loop = make_loop();
  bool fired = false;
  const TimerId early = loop->start_timer(kNanosPerMilli, [&] { fired = true; });
  loop->start_timer(10 * kNanosPerMilli, [&] { loop->stop(); });
  EXPECT_TRUE(loop->cancel_timer(early));
  EXPECT_FALSE(loop->cancel_timer(early));
  ASSERT_TRUE(loop->run().ok());
  EXPECT_FALSE(fired);
}

TEST(EventLoop, PostsFromOtherThreadsRunOnTheLoopInOrder) {
  auto loop = make_loop();
  std::vector<int> seen;
  const std::thread::id loop_thread = std::this_thread::get_id();
  bool all_on_loop = true;
  std::thread poster([&] {
    for (int i = 0; i < 1000; ++i) {
      loop->post([&, i] {
        all_on_loop = all_on_loop && std::this_thread::get_id() == loop_thread;
        seen.push_back(i);
        if (i == 999) loop->stop();
      });
    }
  });
  ASSERT_TRUE(loop->run().ok());
  poster.join();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], i);
  EXPECT_TRUE(all_on_loop);
}

TEST(EventLoop, AReadableSocketCallsItsWatcherWhichMayUnwatchItself) {
  auto loop = make_loop();
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  std::string got;
  ASSERT_TRUE(loop->watch(fds[0], EPOLLIN, [&](uint32_t events) {
                    EXPECT_TRUE(events & EPOLLIN);
                    char buf[64];
                    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
                    if (n > 0) got.append(buf, static_cast<size_t>(n));
                    loop->unwatch(fds[0]);  // destroys this callback's registration mid-call
                    loop->stop();
                  }).ok());
  ASSERT_EQ(::write(fds[1], "ping", 4), 4);
  ASSERT_TRUE(loop->run().ok());
  EXPECT_EQ(got, "ping");
  EXPECT_FALSE(loop->modify(fds[0], EPOLLIN).ok());  // no longer watched
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  auto loop = make_loop();
  std::thread stopper([&] { loop->stop(); });
  ASSERT_TRUE(loop->run().ok());
  stopper.join();
}

}  // namespace
}  // namespace walle::runtime
