// walle-e2e-never-reader: a client that authenticates, then asks one server for large reads
// as fast as it can and never reads a byte of the answers (tests/e2e/run.sh). The server
// must drop this one connection at its send bound (--max-buffered-bytes) instead of growing.
//
// Exit 0 once the server has dropped the connection (a send fails), printing how much was
// asked; 1 if it has not done so within --timeout-s; 2 on bad arguments.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "core/link/frame.h"
#include "core/link/handshake.h"
#include "core/protocol/messages.h"
#include "core/wire/codec.h"
#include "net/socket_util.h"
#include "runtime/cluster_file.h"
#include "runtime/data_dir.h"
#include "runtime/system_random.h"

namespace walle::e2e {
namespace {

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t put = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(put));
  }
  return true;
}

bool send_frame(int fd, std::string_view payload) {
  std::string frame;
  link::append_frame(payload, frame);
  return send_all(fd, frame);
}

// The handshake, with blocking reads: the only bytes this client ever reads.
absl::Status handshake(int fd, link::Handshake& hs) {
  if (!send_frame(fd, hs.hello())) return net::errno_status("send hello");
  link::FrameReader reader(1 << 20);
  char buffer[4096];
  while (!hs.established()) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got <= 0) return absl::UnavailableError("the server closed during the handshake");
    reader.feed(std::string_view(buffer, static_cast<size_t>(got)));
    for (;;) {
      absl::StatusOr<std::optional<std::string>> payload = reader.next();
      if (!payload.ok()) return payload.status();
      if (!payload->has_value()) break;
      std::vector<std::string> out;
      if (absl::Status s = hs.on_payload(**payload, out); !s.ok()) return s;
      for (const std::string& o : out) {
        if (!send_frame(fd, o)) return net::errno_status("send proof");
      }
    }
  }
  return absl::OkStatus();
}

int run(int argc, char** argv) {
  std::string cluster_path, secret_path, stream;
  uint32_t server = 0;
  int timeout_s = 30;
  CLI::App app{"walle-e2e-never-reader: asks for large reads and never reads the answers"};
  app.add_option("--cluster-file", cluster_path)->required();
  app.add_option("--secret-file", secret_path)->required();
  app.add_option("--stream", stream)->required();
  app.add_option("--server", server, "the server id to connect to")->required();
  app.add_option("--timeout-s", timeout_s)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<runtime::ClusterFile> cluster = runtime::read_cluster_file(cluster_path);
  absl::StatusOr<std::string> secret = runtime::read_secret_file(secret_path);
  if (!cluster.ok() || !secret.ok()) {
    std::fprintf(stderr, "%s\n", (!cluster.ok() ? cluster.status() : secret.status()).ToString().c_str());
    return 2;
  }
  auto address = cluster->servers.find(server);
  if (address == cluster->servers.end()) {
    std::fprintf(stderr, "no server %u in %s\n", server, cluster_path.c_str());
    return 2;
  }
  absl::StatusOr<sockaddr_in> addr = net::resolve(address->second);
  if (!addr.ok()) return 2;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    std::perror("connect");
    return 1;
  }

  runtime::SystemRandom random;
  link::HandshakeConfig config;
  config.cluster_id = cluster->cluster_id;
  config.self = static_cast<NodeId>(link::kFirstClientId + random.uniform(1u << 30));
  config.role = link::Role::kClient;
  config.secret = *secret;
  config.admit = [](NodeId, link::Role role) {
    return role == link::Role::kServer ? absl::OkStatus()
                                       : absl::PermissionDeniedError("not a server");
  };
  link::Nonce nonce;
  for (auto& b : nonce) b = static_cast<uint8_t>(random.uniform(256));
  link::Handshake hs(std::move(config), nonce);
  if (absl::Status s = handshake(fd, hs); !s.ok()) {
    std::fprintf(stderr, "walle-e2e-never-reader: handshake: %s\n", s.ToString().c_str());
    return 1;
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  uint64_t asked = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    protocol::ReadRequest read{stream, asked + 1, 1, ~uint64_t{0}, 1 << 20, false, 0};
    if (!send_frame(fd, wire::encode(read))) {
      std::printf("dropped by server %u after %llu reads of up to 1 MiB, none read\n", server,
                  static_cast<unsigned long long>(asked));
      ::close(fd);
      return 0;
    }
    ++asked;
    // Pace a little once the socket is full: the server still reads requests until it drops.
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, 10);
  }
  std::fprintf(stderr, "walle-e2e-never-reader: still connected after %llu reads and %d s\n",
               static_cast<unsigned long long>(asked), timeout_s);
  return 1;
}

}  // namespace
}  // namespace walle::e2e

int main(int argc, char** argv) { return walle::e2e::run(argc, argv); }
