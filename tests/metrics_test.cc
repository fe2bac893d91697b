// The metrics path: Prometheus text rendering, and the HTTP endpoint on a loopback socket.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/metrics_endpoint.h"
#include "runtime/event_loop.h"
#include "runtime/metrics_text.h"

namespace walle {
namespace {

constexpr int64_t kDeadlineNs = 10 * kNanosPerSecond;

TEST(MetricsText, FamiliesSamplesAndEscapedLabels) {
  runtime::MetricsText text;
  text.family("walle_x_total", "counter", "things");
  text.sample("walle_x_total", {{"stream", "a\"b\\c\nd"}}, 3);
  text.sample("walle_y", 0.25);
  EXPECT_EQ(text.take(),
            "# HELP walle_x_total things\n# TYPE walle_x_total counter\n"
            "walle_x_total{stream=\"a\\\"b\\\\c\\nd\"} 3\nwalle_y 0.25\n");
}

TEST(MetricsText, AHistogramHasCumulativeBucketsSumAndCount) {
  disk::LatencyHistogram h;
  h.record(10'000);       // 10 us: first bucket (le 16 us)
  h.record(50'000);       // 50 us: le 64 us
  h.record(5'000'000'000);  // 5 s: beyond every bound
  runtime::MetricsText text;
  text.histogram("walle_h_seconds", "h", h.snapshot());
  const std::string out = text.take();
  EXPECT_NE(out.find("# TYPE walle_h_seconds histogram\n"), std::string::npos);
  EXPECT_NE(out.find("walle_h_seconds_bucket{le=\"1.6e-05\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("walle_h_seconds_bucket{le=\"3.2e-05\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("walle_h_seconds_bucket{le=\"6.4e-05\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("walle_h_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("walle_h_seconds_count 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("walle_h_seconds_sum 5.00006\n"), std::string::npos) << out;
  EXPECT_EQ(h.snapshot().quantile_bound_ns(0.5), 64'000);
  EXPECT_EQ(h.snapshot().quantile_bound_ns(0.99), -1);  // beyond the last bound
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<runtime::EventLoop>> loop = runtime::EventLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    net::MetricsEndpointOptions options;
    options.listen = net::Address{"127.0.0.1", 0};
    options.max_connections = 2;
    options.timeout_ns = 200 * kNanosPerMilli;
    absl::StatusOr<std::unique_ptr<net::MetricsEndpoint>> endpoint = net::MetricsEndpoint::create(
        *loop_, *loop_, options, [this] { return "walle_up " + std::to_string(++renders_) + "\n"; },
        [this](net::LogLevel, std::string_view line) { logs_.emplace_back(line); });
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    endpoint_ = std::move(*endpoint);
  }

  int connect_to_endpoint() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(endpoint_->port());
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // Sends `request` from another thread (the loop serves on this one) and returns everything
  // the endpoint answered until it closed the connection.
  std::string ask(const std::string& request) {
    std::string answer;
    std::atomic<bool> done{false};
    std::thread client([&] {
      const int fd = connect_to_endpoint();
      (void)!::write(fd, request.data(), request.size());
      char buffer[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof(buffer));
        if (n <= 0) break;
        answer.append(buffer, static_cast<size_t>(n));
      }
      ::close(fd);
      done = true;
    });
    run_until([&] { return done.load(); });
    client.join();
    return answer;
  }

  void run_until(const std::function<bool()>& condition) {
    const int64_t deadline = loop_->now_ns() + kDeadlineNs;
    std::function<void()> poll = [&] {
      if (condition() || loop_->now_ns() >= deadline) return loop_->stop();
      loop_->start_timer(kNanosPerMilli, poll);
    };
    loop_->start_timer(0, poll);
    ASSERT_TRUE(loop_->run().ok());
    ASSERT_TRUE(condition()) << "timed out";
  }

  std::unique_ptr<runtime::EventLoop> loop_;
  std::unique_ptr<net::MetricsEndpoint> endpoint_;
  int renders_ = 0;
  std::vector<std::string> logs_;
};

TEST_F(MetricsEndpointTest, GetMetricsAnswersTheRenderedTextAndCloses) {
  const std::string first = ask("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(first.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << first;
  EXPECT_NE(first.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(first.find("Content-Length: 11\r\n"), std::string::npos) << first;
  EXPECT_EQ(first.substr(first.size() - 11), "walle_up 1\n");
  // Each scrape renders anew.
  const std::string second = ask("GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_EQ(second.substr(second.size() - 11), "walle_up 2\n");
  EXPECT_EQ(endpoint_->scrapes(), 2u);
}

TEST_F(MetricsEndpointTest, OtherPathsMethodsAndGarbageGetErrorsNotMetrics) {
  EXPECT_EQ(ask("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(ask("POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(ask("\x16\x03\x01 hello\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(ask(std::string(10000, 'a')).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(renders_, 0);
}

TEST_F(MetricsEndpointTest, SilentAndExcessConnectionsAreClosed) {
  // Two silent connections fill the endpoint; a third is closed at accept; the silent ones
  // are closed at the timeout; then a scrape works again.
  const int a = connect_to_endpoint();
  const int b = connect_to_endpoint();
  const int c = connect_to_endpoint();
  auto closed = [](int fd) {
    char byte;
    const ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  };
  run_until([&] { return closed(c); });
  EXPECT_FALSE(logs_.empty());
  run_until([&] { return closed(a) && closed(b); });
  for (int fd : {a, b, c}) ::close(fd);
  EXPECT_EQ(ask("GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace walle
