#include "net/metrics_endpoint.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"

namespace walle::net {
namespace {

constexpr size_t kMaxHeadBytes = 8 << 10;

std::string response(absl::string_view status, absl::string_view content_type,
                     absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

std::string plain(absl::string_view status, absl::string_view text) {
  return response(status, "text/plain; charset=utf-8", absl::StrCat(text, "\n"));
}

}  // namespace

struct MetricsEndpoint::Connection {
  Connection(int fd, Clock& clock) : fd(fd), deadline(clock) {}
  int fd;
  std::string in;
  std::string out;
  size_t sent = 0;
  bool answering = false;
  Timer deadline;
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::create(
    Poller& poller, Clock& clock, MetricsEndpointOptions options, Render render, LogSink log) {
  std::unique_ptr<MetricsEndpoint> e(
      new MetricsEndpoint(poller, clock, std::move(options), std::move(render), std::move(log)));
  absl::StatusOr<ListeningSocket> socket = listen_on(e->options_.listen, 16);
  if (!socket.ok()) return socket.status();
  e->listen_fd_ = socket->fd;
  e->port_ = socket->port;
  if (absl::Status s = poller.watch(e->listen_fd_, EPOLLIN, [p = e.get()](uint32_t) {
        p->on_accept();
      });
      !s.ok()) {
    return s;
  }
  return e;
}

MetricsEndpoint::MetricsEndpoint(Poller& poller, Clock& clock, MetricsEndpointOptions options,
                                 Render render, LogSink log)
    : poller_(poller),
      clock_(clock),
      options_(std::move(options)),
      render_(std::move(render)),
      log_(std::move(log)) {}

MetricsEndpoint::~MetricsEndpoint() {
  while (!connections_.empty()) close(connections_.begin()->first);
  if (listen_fd_ >= 0) {
    poller_.unwatch(listen_fd_);
    ::close(listen_fd_);
  }
}

void MetricsEndpoint::on_accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        log_(LogLevel::kWarning, errno_status("metrics: accept").ToString());
      }
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      log_(LogLevel::kWarning, absl::StrCat("metrics: refused a connection (",
                                            options_.max_connections, " open already)"));
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>(fd, clock_);
    c->deadline.start(options_.timeout_ns, [this, fd] { close(fd); });
    if (absl::Status s = poller_.watch(fd, EPOLLIN, [this, fd](uint32_t ev) { on_ready(fd, ev); });
        !s.ok()) {
      log_(LogLevel::kWarning, absl::StrCat("metrics: ", s.message()));
      ::close(fd);
      continue;
    }
    connections_.emplace(fd, std::move(c));
  }
}

void MetricsEndpoint::on_ready(int fd, uint32_t events) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  if (c.answering) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) return close(fd);
    return write_out(c);
  }
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got == 0) return close(fd);  // gone before asking anything complete
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      return close(fd);
    }
    c.in.append(buffer, static_cast<size_t>(got));
    const size_t end = c.in.find("\r\n\r\n");
    if (end != std::string::npos || c.in.size() > kMaxHeadBytes) {
      c.out = end != std::string::npos && end <= kMaxHeadBytes
                  ? answer(c.in.substr(0, end))
                  : plain("431 Request Header Fields Too Large", "request head over 8 KiB");
      c.in.clear();
      c.answering = true;
      return write_out(c);
    }
  }
}

std::string MetricsEndpoint::answer(const std::string& head) {
  const std::string line = head.substr(0, head.find("\r\n"));
  const size_t first = line.find(' ');
  const size_t second = first == std::string::npos ? first : line.find(' ', first + 1);
  if (second == std::string::npos || line.compare(second + 1, 5, "HTTP/") != 0) {
    return plain("400 Bad Request", "not an HTTP request");
  }
  const std::string method = line.substr(0, first);
  std::string target = line.substr(first + 1, second - first - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return plain("404 Not Found", "the metrics are at /metrics");
  if (method != "GET" && method != "HEAD") return plain("405 Method Not Allowed", "use GET");
  ++scrapes_;
  std::string all = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_());
  if (method == "HEAD") all.resize(all.find("\r\n\r\n") + 4);
  return all;
}

void MetricsEndpoint::write_out(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t put =
        ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (put < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        absl::Status s = poller_.modify(c.fd, EPOLLOUT);
        if (!s.ok()) close(c.fd);
        return;
      }
      return close(c.fd);
    }
    c.sent += static_cast<size_t>(put);
  }
  close(c.fd);
}

void MetricsEndpoint::close(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  poller_.unwatch(fd);
  ::close(fd);
  connections_.erase(it);  // cancels its deadline
}

}  // namespace walle::net
