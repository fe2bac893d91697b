#pragma once

// The production Transport (core/env/transport.h) over TCP (docs/protocol.md, "Transport").
//
// - Servers listen; every server dials every other server of the cluster file, and clients
//   dial every server. When two servers dial each other, the connection dialed by the lower
//   node id is kept and the other closed, so a pair ends with one connection.
// - A connection opens with the handshake (core/link/handshake.h); until it completes no
//   protocol message is read or sent on it, and it is closed if that takes too long. The
//   peer's node id comes from the handshake, never from a message.
// - Messages travel as frames (core/link/frame.h), batched: everything sent during one
//   callback of the loop leaves in one writev. A peer's queue is bounded
//   (max_buffered_bytes): past it the connection is dropped, and the protocol's retries take
//   over, as the transport contract allows. Messages to a server not connected yet wait in a
//   bounded backlog for the next connection.
// - A malformed, corrupt or oversized frame closes that connection only, with the reason
//   logged; so do failed handshakes (the reason is also sent to the peer). Connections beyond
//   max_connections are refused at accept.
// - A lost server connection is dialed again after a jittered, doubling delay.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/env/clock.h"
#include "core/env/node.h"
#include "core/env/random.h"
#include "core/env/timer.h"
#include "core/env/transport.h"
#include "core/link/handshake.h"
#include "net/poller.h"
#include "net/socket_util.h"

namespace walle::net {

struct TcpOptions {
  NodeId self = kInvalidNodeId;
  link::Role role = link::Role::kServer;
  std::string cluster_id;
  std::string secret;
  // Servers: where to listen (port 0: any free port, see listen_port()). Clients: unused.
  Address listen;
  // Every server of the cluster (this one too, if it is one): who is dialed and admitted.
  std::map<NodeId, Address> servers;
  uint32_t max_frame_bytes = 16u << 20;
  size_t max_buffered_bytes = 64u << 20;  // per connection, and per backlog
  size_t max_connections = 1024;
  int64_t handshake_timeout_ns = 5 * kNanosPerSecond;
  int64_t reconnect_min_ns = 20 * kNanosPerMilli;
  int64_t reconnect_max_ns = 2 * kNanosPerSecond;
};

struct TcpStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t handshakes_completed = 0;
  uint64_t handshakes_failed = 0;   // refused either way, or timed out
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bad_frames = 0;          // connections closed for a malformed frame
  uint64_t overflow_drops = 0;      // connections dropped at the send bound
  uint64_t duplicate_closes = 0;    // the losing side of a simultaneous dial
  uint64_t messages_dropped = 0;    // no connection and no room to wait for one
};

class TcpTransport final : public Transport {
 public:
  // Binds the listening socket (servers). Nothing is dialed before start().
  static absl::StatusOr<std::unique_ptr<TcpTransport>> create(Poller& poller, Clock& clock,
                                                              Random& random, TcpOptions options,
                                                              LogSink log);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  // Where received messages and lost connections go. Set before start(); may be reset to
  // nullptr (a node being replaced), after which messages are dropped.
  void set_node(Node* node) { node_ = node; }
  // Starts accepting and dialing.
  void start();
  // Transport: never blocks, never fails synchronously.
  void send(NodeId to, std::string bytes) override;
  // Stops accepting and dialing and closes every connection (messages still queued are
  // lost: callers that need them out wait for queued_bytes() to reach 0 first).
  void shutdown();
  // The first step of a clean stop: no new connections; the open ones keep flowing.
  void stop_accepting();
  // Bytes queued on connections, not yet written to their sockets.
  size_t queued_bytes() const;

  uint16_t listen_port() const { return listen_port_; }
  // Peers with a completed handshake.
  std::vector<NodeId> connected_peers() const;
  const TcpStats& stats() const { return stats_; }

 private:
  struct Connection;
  struct Peer;

  TcpTransport(Poller& poller, Clock& clock, Random& random, TcpOptions options, LogSink log);
  absl::Status listen();
  void on_accept();
  void dial(NodeId server);
  void schedule_redial(NodeId server);
  std::shared_ptr<Connection> adopt(int fd, bool outbound, NodeId dialed);
  void on_ready(const std::shared_ptr<Connection>& c, uint32_t events);
  void read_from(const std::shared_ptr<Connection>& c);
  void on_frame(const std::shared_ptr<Connection>& c, std::string payload);
  void established(const std::shared_ptr<Connection>& c);
  bool queue_frame(const std::shared_ptr<Connection>& c, std::string_view payload);
  void flush(const std::shared_ptr<Connection>& c);
  void want_write(const std::shared_ptr<Connection>& c, bool on);
  // By value: callers pass peer.conn, which closing resets.
  void close(std::shared_ptr<Connection> c, const absl::Status& why);
  absl::Status admit(NodeId id, link::Role role) const;
  void log(LogLevel level, const std::string& line);

  Poller& poller_;
  Clock& clock_;
  Random& random_;
  TcpOptions options_;
  LogSink log_;
  Node* node_ = nullptr;
  int listen_fd_ = -1;
  uint16_t listen_port_ = 0;
  bool started_ = false;
  bool shut_down_ = false;
  absl::flat_hash_map<int, std::shared_ptr<Connection>> connections_;  // by descriptor
  std::map<NodeId, std::unique_ptr<Peer>> peers_;                     // servers, and clients
  TimerGroup timers_;
  TcpStats stats_;
};

}  // namespace walle::net
