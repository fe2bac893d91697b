#include "net/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "core/link/frame.h"
#include "core/link/send_queue.h"
#include "core/util/check.h"
#include "net/socket_util.h"

namespace walle::net {
namespace {

link::Nonce fresh_nonce() {
  link::Nonce nonce;
  WALLE_CHECK_MSG(RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) == 1,
                  "the system's random source failed");
  return nonce;
}

constexpr size_t kReadChunkBytes = 64 << 10;
constexpr size_t kMaxWritePieces = 64;
constexpr size_t kReadBudgetBytes = 1 << 20;

}  // namespace

struct TcpTransport::Connection {
  Connection(int fd, bool outbound, NodeId dialed, uint32_t max_frame_bytes, size_t max_buffered,
             Clock& clock)
      : fd(fd),
        outbound(outbound),
        dialed(dialed),
        reader(max_frame_bytes),
        out(max_buffered),
        handshake_timer(clock) {}

  int fd;
  bool outbound;
  NodeId dialed;  // outbound: the server dialed
  bool connecting = false;
  link::FrameReader reader;
  link::SendQueue out;
  std::optional<link::Handshake> handshake;
  bool established = false;
  bool closed = false;
  NodeId peer = kInvalidNodeId;
  link::Role peer_role = link::Role::kServer;
  bool flush_scheduled = false;
  bool writing = false;  // EPOLLOUT watched
  Timer handshake_timer;
};

struct TcpTransport::Peer {
  explicit Peer(Clock& clock) : redial(clock) {}
  bool server = false;
  std::shared_ptr<Connection> conn;  // with a completed handshake
  bool dialing = false;              // an outbound connection is being set up
  std::deque<std::string> backlog;   // messages waiting for a connection (servers only)
  size_t backlog_bytes = 0;
  int64_t backoff_ns = 0;
  Timer redial;
};

absl::StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::create(Poller& poller, Clock& clock,
                                                                    Random& random,
                                                                    TcpOptions options,
                                                                    LogSink log) {
  if (options.self == kInvalidNodeId) return absl::InvalidArgumentError("no node id");
  if (options.secret.empty()) return absl::InvalidArgumentError("the cluster secret is empty");
  if (options.max_frame_bytes > link::kMaxFramePayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_frame_bytes above ",
                                                   link::kMaxFramePayloadBytes));
  }
  std::unique_ptr<TcpTransport> t(
      new TcpTransport(poller, clock, random, std::move(options), std::move(log)));
  for (const auto& [id, address] : t->options_.servers) {
    if (id == t->options_.self) continue;
    auto peer = std::make_unique<Peer>(clock);
    peer->server = true;
    t->peers_.emplace(id, std::move(peer));
  }
  if (t->options_.role == link::Role::kServer) {
    if (absl::Status s = t->listen(); !s.ok()) return s;
  }
  return t;
}

TcpTransport::TcpTransport(Poller& poller, Clock& clock, Random& random, TcpOptions options,
                           LogSink log)
    : poller_(poller),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      log_(std::move(log)),
      timers_(clock) {}

TcpTransport::~TcpTransport() { shutdown(); }

absl::Status TcpTransport::listen() {
  absl::StatusOr<ListeningSocket> socket = listen_on(options_.listen, 128);
  if (!socket.ok()) return socket.status();
  listen_fd_ = socket->fd;
  listen_port_ = socket->port;
  return absl::OkStatus();
}

void TcpTransport::start() {
  WALLE_CHECK(!started_);
  started_ = true;
  if (listen_fd_ >= 0) {
    absl::Status s = poller_.watch(listen_fd_, EPOLLIN, [this](uint32_t) { on_accept(); });
    WALLE_CHECK_MSG(s.ok(), s.ToString().c_str());
    log(LogLevel::kInfo, absl::StrCat("listening on ", options_.listen.host, ":", listen_port_));
  }
  for (const auto& [id, peer] : peers_) {
    if (peer->server) dial(id);
  }
}

void TcpTransport::stop_accepting() {
  if (listen_fd_ < 0) return;
  if (started_) poller_.unwatch(listen_fd_);
  ::close(listen_fd_);
  listen_fd_ = -1;
}

size_t TcpTransport::queued_bytes() const {
  size_t bytes = 0;
  for (const auto& [fd, c] : connections_) bytes += c->out.bytes();
  return bytes;
}

void TcpTransport::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stop_accepting();
  std::vector<std::shared_ptr<Connection>> all;
  for (const auto& [fd, c] : connections_) all.push_back(c);
  for (const auto& c : all) close(c, absl::CancelledError("shutting down"));
  for (auto& [id, peer] : peers_) peer->redial.cancel();
  timers_.cancel_all();
}

std::vector<NodeId> TcpTransport::connected_peers() const {
  std::vector<NodeId> out;
  for (const auto& [id, peer] : peers_) {
    if (peer->conn != nullptr) out.push_back(id);
  }
  return out;
}

void TcpTransport::on_accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log(LogLevel::kWarning, errno_status("accept").ToString());
      }
      return;
    }
    if (connections_.size() >= options_.max_connections) {
      ++stats_.connections_refused;
      log(LogLevel::kWarning, absl::StrCat("refused a connection: ", connections_.size(),
                                           " open, the limit (max_connections)"));
      ::close(fd);
      continue;
    }
    ++stats_.connections_accepted;
    set_nodelay(fd);
    adopt(fd, /*outbound=*/false, kInvalidNodeId);
  }
}

void TcpTransport::dial(NodeId server) {
  if (shut_down_) return;
  Peer& peer = *peers_.at(server);
  if (peer.conn != nullptr || peer.dialing) return;
  absl::StatusOr<sockaddr_in> addr = resolve(options_.servers.at(server));
  if (!addr.ok()) {
    log(LogLevel::kError, absl::StrCat("server ", server, ": ", addr.status().message()));
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log(LogLevel::kWarning, errno_status("socket").ToString());
    schedule_redial(server);
    return;
  }
  set_nodelay(fd);
  const int r = connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  if (r != 0 && errno != EINPROGRESS) {
    log(LogLevel::kDebug, absl::StrCat("dial server ", server, ": ", std::strerror(errno)));
    ::close(fd);
    schedule_redial(server);
    return;
  }
  peer.dialing = true;
  std::shared_ptr<Connection> c = adopt(fd, /*outbound=*/true, server);
  c->connecting = r != 0;
}

void TcpTransport::schedule_redial(NodeId server) {
  if (shut_down_) return;
  Peer& peer = *peers_.at(server);
  peer.backoff_ns = std::clamp(peer.backoff_ns * 2, options_.reconnect_min_ns,
                               options_.reconnect_max_ns);
  // Jitter keeps servers that lost each other at once from dialing in lockstep.
  const int64_t delay = peer.backoff_ns / 2 + random_.uniform_between(0, peer.backoff_ns / 2);
  peer.redial.start(delay, [this, server] { dial(server); });
}

std::shared_ptr<TcpTransport::Connection> TcpTransport::adopt(int fd, bool outbound,
                                                              NodeId dialed) {
  auto c = std::make_shared<Connection>(fd, outbound, dialed, options_.max_frame_bytes,
                                        options_.max_buffered_bytes, clock_);
  link::HandshakeConfig config;
  config.cluster_id = options_.cluster_id;
  config.self = options_.self;
  config.role = options_.role;
  config.secret = options_.secret;
  config.admit = [this, outbound, dialed](NodeId id, link::Role role) -> absl::Status {
    if (outbound && (role != link::Role::kServer || id != dialed)) {
      return absl::PermissionDeniedError(absl::StrCat("dialed server ", dialed, " but reached ",
                                                      id, " (a stale cluster file?)"));
    }
    return admit(id, role);
  };
  c->handshake.emplace(std::move(config), fresh_nonce());
  connections_[fd] = c;
  std::weak_ptr<Connection> weak = c;
  absl::Status s = poller_.watch(fd, EPOLLIN | EPOLLOUT, [this, weak](uint32_t events) {
    if (std::shared_ptr<Connection> c = weak.lock()) on_ready(c, events);
  });
  WALLE_CHECK_MSG(s.ok(), s.ToString().c_str());
  c->writing = true;  // EPOLLOUT: the connect completes, or the hello goes out
  c->handshake_timer.start(options_.handshake_timeout_ns, [this, weak] {
    if (std::shared_ptr<Connection> c = weak.lock()) {
      ++stats_.handshakes_failed;
      close(c, absl::DeadlineExceededError("the handshake did not complete in time"));
    }
  });
  queue_frame(c, c->handshake->hello());
  return c;
}

void TcpTransport::on_ready(const std::shared_ptr<Connection>& c, uint32_t events) {
  if (c->closed) return;
  if (c->connecting) {
    int err = 0;
    socklen_t length = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &length);
    if (err != 0) {
      errno = err;
      return close(c, errno_status(absl::StrCat("connect to server ", c->dialed)));
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    c->connecting = false;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_from(c);
  if (!c->closed && (events & EPOLLOUT)) flush(c);
}

void TcpTransport::read_from(const std::shared_ptr<Connection>& c) {
  // Bounded: no more bytes are read while a frame's worth waits to be taken.
  const size_t limit = options_.max_frame_bytes + link::kFrameHeaderBytes + kReadChunkBytes;
  char buffer[kReadChunkBytes];
  // A budget per callback: a peer that sends without pause cannot starve the others (the
  // descriptor stays readable and its turn comes again).
  size_t budget = kReadBudgetBytes;
  while (!c->closed && c->reader.buffered_bytes() < limit && budget > 0) {
    const ssize_t n = ::read(c->fd, buffer, sizeof(buffer));
    if (n == 0) return close(c, absl::UnavailableError("the peer closed the connection"));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return close(c, errno_status("read"));
    }
    budget -= std::min(budget, static_cast<size_t>(n));
    c->reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
    for (;;) {
      absl::StatusOr<std::optional<std::string>> frame = c->reader.next();
      if (!frame.ok()) {
        ++stats_.bad_frames;
        return close(c, frame.status());
      }
      if (!frame->has_value()) break;
      ++stats_.frames_received;
      on_frame(c, std::move(**frame));
      if (c->closed) return;
    }
  }
}

void TcpTransport::on_frame(const std::shared_ptr<Connection>& c, std::string payload) {
  if (c->established) {
    if (node_ != nullptr) node_->receive(c->peer, payload);
    return;
  }
  std::vector<std::string> answers;
  const absl::Status s = c->handshake->on_payload(payload, answers);
  for (const std::string& a : answers) queue_frame(c, a);
  if (!s.ok()) {
    ++stats_.handshakes_failed;
    // Tell the peer why, unless it was the one refusing.
    if (s.message().find("refused by the peer") == std::string::npos) {
      queue_frame(c, link::Handshake::refusal(s));
      flush(c);
    }
    return close(c, absl::Status(s.code(), absl::StrCat("handshake: ", s.message())));
  }
  if (c->handshake->established()) established(c);
}

void TcpTransport::established(const std::shared_ptr<Connection>& c) {
  ++stats_.handshakes_completed;
  c->established = true;
  c->handshake_timer.cancel();
  c->peer = c->handshake->peer();
  c->peer_role = c->handshake->peer_role();
  auto [it, inserted] = peers_.try_emplace(c->peer, nullptr);
  if (inserted) it->second = std::make_unique<Peer>(clock_);
  Peer& peer = *it->second;
  if (c->outbound) peer.dialing = false;
  if (peer.conn != nullptr) {
    // Both sides dialed: keep the connection the lower node id dialed, on both sides.
    const bool keep_new = c->outbound == (options_.self < c->peer);
    ++stats_.duplicate_closes;
    if (!keep_new) {
      return close(c, absl::AlreadyExistsError("a duplicate of the connection kept"));
    }
    std::shared_ptr<Connection> old = std::move(peer.conn);
    peer.conn = c;  // so that closing the old one does not look like a loss
    close(old, absl::AlreadyExistsError("replaced by the connection the lower id dialed"));
  }
  peer.conn = c;
  peer.backoff_ns = 0;
  peer.redial.cancel();
  log(LogLevel::kInfo,
      absl::StrCat("connected to ", c->peer_role == link::Role::kServer ? "server " : "client ",
                   c->peer, c->outbound ? " (dialed)" : " (accepted)"));
  while (!peer.backlog.empty()) {
    std::string message = std::move(peer.backlog.front());
    peer.backlog.pop_front();
    peer.backlog_bytes -= message.size();
    if (!queue_frame(c, message)) {
      ++stats_.messages_dropped;
    }
  }
}

bool TcpTransport::queue_frame(const std::shared_ptr<Connection>& c, std::string_view payload) {
  if (!c->out.push(payload)) return false;
  if (!c->flush_scheduled) {
    c->flush_scheduled = true;
    std::weak_ptr<Connection> weak = c;
    poller_.defer([this, weak] {
      if (std::shared_ptr<Connection> c = weak.lock()) {
        c->flush_scheduled = false;
        flush(c);
      }
    });
  }
  return true;
}

void TcpTransport::flush(const std::shared_ptr<Connection>& c) {
  if (c->closed || c->connecting) return;
  while (!c->out.empty()) {
    const std::vector<std::string_view> pieces = c->out.pieces(kMaxWritePieces);
    iovec iov[kMaxWritePieces];
    for (size_t i = 0; i < pieces.size(); ++i) {
      iov[i].iov_base = const_cast<char*>(pieces[i].data());
      iov[i].iov_len = pieces[i].size();
    }
    const ssize_t n = ::writev(c->fd, iov, static_cast<int>(pieces.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return want_write(c, true);
      return close(c, errno_status("write"));
    }
    c->out.consume(static_cast<size_t>(n));
  }
  want_write(c, false);
}

void TcpTransport::want_write(const std::shared_ptr<Connection>& c, bool on) {
  if (c->writing == on) return;
  c->writing = on;
  poller_.modify(c->fd, on ? uint32_t{EPOLLIN | EPOLLOUT} : uint32_t{EPOLLIN}).IgnoreError();
}

void TcpTransport::send(NodeId to, std::string bytes) {
  if (shut_down_) return;
  if (to == options_.self) {
    // Delivered after the current step, as the contract says.
    poller_.defer([this, bytes = std::move(bytes)] {
      if (node_ != nullptr && !shut_down_) node_->receive(options_.self, bytes);
    });
    return;
  }
  if (bytes.size() > options_.max_frame_bytes) {
    ++stats_.messages_dropped;
    log(LogLevel::kError, absl::StrCat("dropped a ", bytes.size(), "-byte message to ", to,
                                       ": above max_frame_bytes"));
    return;
  }
  auto it = peers_.find(to);
  if (it == peers_.end()) {
    ++stats_.messages_dropped;  // a client that left, or an unknown node
    return;
  }
  Peer& peer = *it->second;
  if (peer.conn != nullptr) {
    if (!queue_frame(peer.conn, bytes)) {
      ++stats_.overflow_drops;
      close(peer.conn, absl::ResourceExhaustedError(absl::StrCat(
                           "peer ", to, " does not read: ", peer.conn->out.bytes(),
                           " bytes queued (max_buffered_bytes)")));
    }
    return;
  }
  if (!peer.server || peer.backlog_bytes + bytes.size() > options_.max_buffered_bytes) {
    ++stats_.messages_dropped;
    return;
  }
  peer.backlog_bytes += bytes.size();
  peer.backlog.push_back(std::move(bytes));
}

void TcpTransport::close(std::shared_ptr<Connection> c, const absl::Status& why) {
  if (c->closed) return;
  c->closed = true;
  c->handshake_timer.cancel();
  poller_.unwatch(c->fd);
  ::close(c->fd);
  connections_.erase(c->fd);
  NodeId redial = kInvalidNodeId;
  if (c->outbound) {
    Peer& dialed = *peers_.at(c->dialed);
    if (!c->established) dialed.dialing = false;
    redial = c->dialed;
  }
  if (c->established) {
    auto it = peers_.find(c->peer);
    if (it != peers_.end() && it->second->conn == c) {
      it->second->conn = nullptr;
      log(why.code() == absl::StatusCode::kCancelled ? LogLevel::kInfo : LogLevel::kWarning,
          absl::StrCat("lost ", c->peer_role == link::Role::kServer ? "server " : "client ",
                       c->peer, ": ", why.ToString()));
      if (it->second->server) {
        redial = c->peer;
      } else {
        peers_.erase(it);
      }
      if (node_ != nullptr && !shut_down_) node_->connection_lost(c->peer);
    }
  } else {
    // A server not up yet is routine (it is dialed again); a failed handshake is not.
    const bool routine = why.code() == absl::StatusCode::kCancelled ||
                         (c->outbound && why.code() == absl::StatusCode::kUnavailable);
    log(routine ? LogLevel::kDebug : LogLevel::kWarning,
        absl::StrCat("connection ", c->outbound ? absl::StrCat("to server ", c->dialed)
                                                : std::string("accepted"),
                     " closed before its handshake completed: ", why.ToString()));
  }
  if (redial != kInvalidNodeId && !shut_down_) {
    Peer& peer = *peers_.at(redial);
    if (peer.conn == nullptr && !peer.dialing && !peer.redial.pending()) schedule_redial(redial);
  }
}

absl::Status TcpTransport::admit(NodeId id, link::Role role) const {
  if (role == link::Role::kServer) {
    if (id == options_.self || !options_.servers.contains(id)) {
      return absl::PermissionDeniedError("not a server of this cluster file");
    }
    return absl::OkStatus();
  }
  if (options_.role != link::Role::kServer) {
    return absl::PermissionDeniedError("a client does not accept clients");
  }
  if (id < link::kFirstClientId || id == kInvalidNodeId) {
    return absl::InvalidArgumentError(
        absl::StrCat("client ids start at ", link::kFirstClientId));
  }
  auto it = peers_.find(id);
  if (it != peers_.end() && it->second->conn != nullptr) {
    return absl::AlreadyExistsError("that client id is connected already");
  }
  return absl::OkStatus();
}

void TcpTransport::log(LogLevel level, const std::string& line) {
  if (log_) log_(level, line);
}

}  // namespace walle::net
