#pragma once

// The metrics endpoint: a deliberately small HTTP/1.1 server on the event loop for Prometheus
// scrapes (docs/operations.md, "Metrics"). `GET /metrics` answers what `render` returns, in
// the Prometheus text format; other paths get 404, other methods 405, anything unparsable
// 400. One request per connection (the answer says Connection: close).
//
// Bounded like the transport: at most max_connections open (more are closed at accept), a
// request head of at most 8 KiB (more: 431), and a connection that has not finished within
// the timeout is closed. A scrape can neither stall the loop nor grow the server's memory.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/clock.h"
#include "core/env/timer.h"
#include "net/poller.h"
#include "net/socket_util.h"

namespace walle::net {

struct MetricsEndpointOptions {
  Address listen;
  size_t max_connections = 16;
  int64_t timeout_ns = 5 * kNanosPerSecond;
};

class MetricsEndpoint {
 public:
  using Render = absl::AnyInvocable<std::string()>;
  // Binds and starts serving at once.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> create(Poller& poller, Clock& clock,
                                                                 MetricsEndpointOptions options,
                                                                 Render render, LogSink log);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  uint16_t port() const { return port_; }
  uint64_t scrapes() const { return scrapes_; }

 private:
  struct Connection;
  MetricsEndpoint(Poller& poller, Clock& clock, MetricsEndpointOptions options, Render render,
                  LogSink log);
  void on_accept();
  void on_ready(int fd, uint32_t events);
  // The whole answer to a complete request head.
  std::string answer(const std::string& head);
  void write_out(Connection& c);
  void close(int fd);

  Poller& poller_;
  Clock& clock_;
  MetricsEndpointOptions options_;
  Render render_;
  LogSink log_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  uint64_t scrapes_ = 0;
  absl::flat_hash_map<int, std::unique_ptr<Connection>> connections_;
};

}  // namespace walle::net
