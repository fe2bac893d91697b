#include "net/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/link/frame.h"
#include "core/link/handshake.h"
#include "gtest/gtest.h"
#include "runtime/event_loop.h"

namespace walle::net {
namespace {

constexpr int64_t kDeadlineNs = 10 * kNanosPerSecond;

class FixedRandom final : public Random {
 public:
  uint64_t next_u64() override { return state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL; }

 private:
  uint64_t state_ = 42;
};

// Records what arrives.
class Recorder final : public Node {
 public:
  void start() override {}
  void receive(NodeId from, std::string_view bytes) override {
    got.emplace_back(from, std::string(bytes));
    if (on_receive) on_receive(from, bytes);
  }
  void connection_lost(NodeId peer) override { lost.push_back(peer); }
  std::vector<std::pair<NodeId, std::string>> got;
  std::vector<NodeId> lost;
  std::function<void(NodeId, std::string_view)> on_receive;
};

class TcpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<runtime::EventLoop>> loop = runtime::EventLoop::create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  TcpOptions options(NodeId self, link::Role role = link::Role::kServer,
                     std::string secret = "secret") {
    TcpOptions o;
    o.self = self;
    o.role = role;
    o.cluster_id = "test";
    o.secret = std::move(secret);
    o.listen = Address{"127.0.0.1", 0};
    o.servers = servers_;
    o.reconnect_min_ns = 5 * kNanosPerMilli;
    o.reconnect_max_ns = 50 * kNanosPerMilli;
    return o;
  }

  // A server on an ephemeral port, registered for transports made after it.
  TcpTransport& add_server(NodeId id, std::string secret = "secret") {
    TcpOptions o = options(id, link::Role::kServer, std::move(secret));
    absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
        *loop_, *loop_, random_, o, [this, id](LogLevel, std::string_view line) {
          logs_.push_back(absl::StrCat("n", id, ": ", std::string(line)));
        });
    EXPECT_TRUE(t.ok()) << t.status();
    servers_[id] = Address{"127.0.0.1", (*t)->listen_port()};
    return keep(id, std::move(*t));
  }

  TcpTransport& add_client(NodeId id) {
    absl::StatusOr<std::unique_ptr<TcpTransport>> t =
        TcpTransport::create(*loop_, *loop_, random_, options(id, link::Role::kClient),
                             [this, id](LogLevel, std::string_view line) {
                               logs_.push_back(absl::StrCat("n", id, ": ", std::string(line)));
                             });
    EXPECT_TRUE(t.ok()) << t.status();
    return keep(id, std::move(*t));
  }

  TcpTransport& keep(NodeId id, std::unique_ptr<TcpTransport> t) {
    nodes_[id] = std::make_unique<Recorder>();
    t->set_node(nodes_[id].get());
    transports_[id] = std::move(t);
    return *transports_[id];
  }

  // Servers learn each other's ports only once all exist: recreate the peer tables.
  void start_all() {
    for (auto& [id, t] : transports_) {
      (void)id;
      t->start();
    }
  }

  // Runs the loop until `done` holds (checked after every callback batch) or the deadline.
  bool run_until(const std::function<bool()>& done, const char* what) {
    const int64_t deadline = loop_->now_ns() + kDeadlineNs;
    std::function<void()> poll = [&] {
      if (done() || loop_->now_ns() >= deadline) {
        loop_->stop();
        return;
      }
      loop_->start_timer(kNanosPerMilli, poll);
    };
    loop_->start_timer(0, poll);
    EXPECT_TRUE(loop_->run().ok());
    const bool ok = done();
    EXPECT_TRUE(ok) << "timed out waiting for: " << what << "\nlogs:\n" << joined_logs();
    return ok;
  }

  std::string joined_logs() const {
    std::string out;
    for (const std::string& l : logs_) absl::StrAppend(&out, "  ", l, "\n");
    return out;
  }

  bool logged(std::string_view part) const {
    for (const std::string& l : logs_) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }

  // A raw loopback socket to server `id`, for speaking bytes no transport would send.
  int raw_connect(NodeId id) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(servers_.at(id).port);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // Whether the server closed `fd` (read returns 0 or an error rather than blocking).
  bool closed_by_peer(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
      if (n < 0) return false;
    }
  }

  // Declared before the transports, which log and deliver to them until destroyed.
  FixedRandom random_;
  std::vector<std::string> logs_;
  std::unique_ptr<runtime::EventLoop> loop_;
  std::map<NodeId, Address> servers_;
  std::map<NodeId, std::unique_ptr<Recorder>> nodes_;
  std::map<NodeId, std::unique_ptr<TcpTransport>> transports_;
};

TEST_F(TcpTransportTest, ServersAndAClientExchangeMessagesOverOneConnectionPerPair) {
  // Ports are ephemeral: create the servers, then rebuild them knowing every port.
  add_server(0);
  add_server(1);
  add_server(2);
  const std::map<NodeId, Address> ports = servers_;
  transports_.clear();
  for (NodeId id : {0u, 1u, 2u}) {
    TcpOptions o = options(id);
    o.listen = ports.at(id);
    absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
        *loop_, *loop_, random_, o,
        [this, id](LogLevel, std::string_view l) { logs_.push_back(absl::StrCat("n", id, ": ", std::string(l))); });
    ASSERT_TRUE(t.ok()) << t.status();
    keep(id, std::move(*t));
  }
  const NodeId client = link::kFirstClientId + 5;
  add_client(client);
  start_all();
  ASSERT_TRUE(run_until(
      [&] {
        for (NodeId id : {0u, 1u, 2u}) {
          if (transports_[id]->connected_peers().size() < 2) return false;
        }
        return transports_[client]->connected_peers().size() == 3;
      },
      "every server connected to the two others and the client to all three"));
  // Replies to the client go back over its own connection.
  for (NodeId id : {0u, 1u, 2u}) {
    nodes_[id]->on_receive = [&, id](NodeId from, std::string_view bytes) {
      if (from == client) transports_[id]->send(from, absl::StrCat("re:", std::string(bytes)));
    };
  }
  for (NodeId id : {0u, 1u, 2u}) transports_[client]->send(id, absl::StrCat("hello ", id));
  transports_[0]->send(1, "from 0");
  transports_[0]->send(0, "to myself");
  ASSERT_TRUE(run_until([&] { return nodes_[client]->got.size() == 3 && nodes_[0]->got.size() >= 2; },
                        "three replies at the client, and server 0's messages"));
  for (const auto& [from, bytes] : nodes_[client]->got) {
    EXPECT_EQ(bytes, absl::StrCat("re:hello ", from));
  }
  bool from_0 = false;
  for (const auto& [from, bytes] : nodes_[1]->got) from_0 |= from == 0 && bytes == "from 0";
  EXPECT_TRUE(from_0);
  bool to_myself = false;
  for (const auto& [from, bytes] : nodes_[0]->got) to_myself |= from == 0 && bytes == "to myself";
  EXPECT_TRUE(to_myself);
  for (NodeId id : {0u, 1u, 2u}) EXPECT_EQ(transports_[id]->stats().bad_frames, 0u);
}

TEST_F(TcpTransportTest, AServerWithAWrongSecretIsRefusedWithTheReasonOnBothSides) {
  add_server(0);
  add_server(1, "not the secret");
  const std::map<NodeId, Address> ports = servers_;
  transports_.clear();
  for (NodeId id : {0u, 1u}) {
    TcpOptions o = options(id, link::Role::kServer, id == 0 ? "secret" : "not the secret");
    o.listen = ports.at(id);
    absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
        *loop_, *loop_, random_, o,
        [this, id](LogLevel, std::string_view l) { logs_.push_back(absl::StrCat("n", id, ": ", std::string(l))); });
    ASSERT_TRUE(t.ok());
    keep(id, std::move(*t));
  }
  start_all();
  ASSERT_TRUE(run_until(
      [&] {
        return transports_[0]->stats().handshakes_failed >= 2 &&
               transports_[1]->stats().handshakes_failed >= 2;
      },
      "both servers refusing each other's dials"));
  EXPECT_TRUE(transports_[0]->connected_peers().empty());
  EXPECT_TRUE(transports_[1]->connected_peers().empty());
  // Each side finds the other's proof wrong (and says so in the refusal it sends).
  EXPECT_TRUE(logged("n0: connection to server 1 closed before its handshake completed")) << joined_logs();
  EXPECT_TRUE(logged("n1: connection to server 0 closed before its handshake completed")) << joined_logs();
  EXPECT_TRUE(logged("does not match the cluster secret")) << joined_logs();
}

TEST_F(TcpTransportTest, GarbageAndForgedLengthsCloseOnlyTheirOwnConnection) {
  add_server(0);
  const NodeId client = link::kFirstClientId + 1;
  add_client(client);
  start_all();
  ASSERT_TRUE(run_until([&] { return transports_[client]->connected_peers().size() == 1; },
                        "the client connected"));
  const int noise = raw_connect(0);
  const std::string http = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::write(noise, http.data(), http.size()), static_cast<ssize_t>(http.size()));
  const int forged = raw_connect(0);
  const std::string huge(link::kFrameHeaderBytes, '\xff');
  ASSERT_EQ(::write(forged, huge.data(), huge.size()), static_cast<ssize_t>(huge.size()));
  ASSERT_TRUE(run_until([&] { return transports_[0]->stats().handshakes_failed + transports_[0]->stats().bad_frames >= 2; },
                        "the server rejecting both"));
  ASSERT_TRUE(run_until([&] { return closed_by_peer(noise) && closed_by_peer(forged); },
                        "both raw connections closed by the server"));
  // The honest client still works.
  nodes_[0]->on_receive = [&](NodeId from, std::string_view) { transports_[0]->send(from, "pong"); };
  transports_[client]->send(0, "ping");
  ASSERT_TRUE(run_until([&] { return !nodes_[client]->got.empty(); }, "a pong"));
  EXPECT_EQ(nodes_[client]->got.front().second, "pong");
  ::close(noise);
  ::close(forged);
}

TEST_F(TcpTransportTest, ConnectionsBeyondTheLimitAreRefusedAtAccept) {
  TcpOptions o = options(0);
  o.max_connections = 2;
  absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
      *loop_, *loop_, random_, o, [this](LogLevel, std::string_view l) { logs_.emplace_back(l); });
  ASSERT_TRUE(t.ok());
  servers_[0] = Address{"127.0.0.1", (*t)->listen_port()};
  keep(0, std::move(*t));
  start_all();
  const int a = raw_connect(0);
  const int b = raw_connect(0);
  const int c = raw_connect(0);
  ASSERT_TRUE(run_until([&] { return transports_[0]->stats().connections_refused == 1; },
                        "the third connection refused"));
  EXPECT_EQ(transports_[0]->stats().connections_accepted, 2u);
  EXPECT_TRUE(logged("max_connections"));
  for (int fd : {a, b, c}) ::close(fd);
}

TEST_F(TcpTransportTest, AConnectionThatNeverCompletesItsHandshakeIsClosedAtTheTimeout) {
  TcpOptions o = options(0);
  o.handshake_timeout_ns = 100 * kNanosPerMilli;
  absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
      *loop_, *loop_, random_, o, [this](LogLevel, std::string_view l) { logs_.emplace_back(l); });
  ASSERT_TRUE(t.ok());
  servers_[0] = Address{"127.0.0.1", (*t)->listen_port()};
  keep(0, std::move(*t));
  start_all();
  // Connects and says nothing: without the timeout it would hold a connection slot forever.
  const int silent = raw_connect(0);
  const int64_t connected_ns = loop_->now_ns();
  ASSERT_TRUE(run_until([&] { return closed_by_peer(silent); },
                        "the silent connection closed by the server"));
  EXPECT_GE(loop_->now_ns() - connected_ns, o.handshake_timeout_ns);
  EXPECT_EQ(transports_[0]->stats().handshakes_failed, 1u);
  EXPECT_TRUE(logged("did not complete in time")) << joined_logs();
  ::close(silent);
}

TEST_F(TcpTransportTest, AClientThatNeverReadsIsDroppedAtTheBoundNotBuffered) {
  TcpOptions o = options(0);
  o.max_buffered_bytes = 256 << 10;
  absl::StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::create(
      *loop_, *loop_, random_, o, [this](LogLevel, std::string_view l) { logs_.emplace_back(l); });
  ASSERT_TRUE(t.ok());
  servers_[0] = Address{"127.0.0.1", (*t)->listen_port()};
  keep(0, std::move(*t));
  start_all();
  // A client that completes the handshake by hand, then never reads again.
  const NodeId client = link::kFirstClientId + 9;
  const int fd = raw_connect(0);
  const int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  link::HandshakeConfig config;
  config.cluster_id = "test";
  config.self = client;
  config.role = link::Role::kClient;
  config.secret = "secret";
  config.admit = [](NodeId, link::Role) { return absl::OkStatus(); };
  link::Nonce nonce;
  nonce.fill(7);
  link::Handshake handshake(config, nonce);
  std::string hello;
  link::append_frame(handshake.hello(), hello);
  ASSERT_EQ(::write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  link::FrameReader reader(1 << 20);
  std::vector<std::string> answers;
  ASSERT_TRUE(run_until(
      [&] {
        char buf[4096];
        const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) reader.feed(std::string_view(buf, static_cast<size_t>(n)));
        for (;;) {
          absl::StatusOr<std::optional<std::string>> f = reader.next();
          if (!f.ok() || !f->has_value()) break;
          EXPECT_TRUE(handshake.on_payload(**f, answers).ok());
        }
        return handshake.established();
      },
      "the hand-made client's handshake"));
  std::string proof;
  for (const std::string& a : answers) link::append_frame(a, proof);
  ASSERT_EQ(::write(fd, proof.data(), proof.size()), static_cast<ssize_t>(proof.size()));
  ASSERT_TRUE(run_until([&] { return transports_[0]->connected_peers().size() == 1; },
                        "the server admitting the client"));
  // The server keeps answering it; the socket fills; the queue hits its bound.
  const std::string reply(8 << 10, 'r');
  std::function<void()> pump = [&] {
    if (transports_[0]->stats().overflow_drops > 0) return;
    for (int i = 0; i < 16; ++i) transports_[0]->send(client, reply);
    loop_->start_timer(kNanosPerMilli, pump);
  };
  pump();
  ASSERT_TRUE(run_until([&] { return transports_[0]->stats().overflow_drops == 1; },
                        "the server dropping the client that never reads"));
  EXPECT_TRUE(transports_[0]->connected_peers().empty());
  EXPECT_TRUE(logged("does not read"));
  ::close(fd);
}

}  // namespace
}  // namespace walle::net
