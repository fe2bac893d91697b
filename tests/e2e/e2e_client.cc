// walle-e2e-client: a writer or a tailing reader in its own process, for the end-to-end
// suite (tests/e2e/run.sh). The core StreamClient runs on the runtime's event loop and TCP
// transport.
//
//   write: claims the stream (preempting a live writer), puts --entries entries and appends
//          "id checksum data" of each acknowledged one to --acked as its acknowledgement
//          arrives. Exit 0 when all are acknowledged, 3 if a newer writer fenced this one.
//   read:  reads the stream from entry 1 until it holds every id of the --acked files, checks
//          the checksum chain and that each acknowledged entry has its acknowledged bytes.
//          Exit 0 when all are there, prints how many entries it checked.
// Either exits 1 at --timeout-s.

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "core/client/stream_client.h"
#include "core/link/handshake.h"
#include "core/storage/entry.h"
#include "net/tcp_transport.h"
#include "runtime/cluster_file.h"
#include "runtime/data_dir.h"
#include "runtime/event_loop.h"
#include "runtime/system_random.h"

namespace walle::e2e {
namespace {

struct Config {
  std::string mode;
  std::string stream;
  std::vector<NodeId> members;
  uint64_t entries = 100;
  size_t entry_bytes = 100;
  uint64_t per_second = 0;  // 0: as fast as the pipeline allows
  int64_t lease_ns = kNanosPerSecond;
  std::string acked;               // write: appended to
  std::vector<std::string> expect;  // read: acked files to check
};

class Client final : public Node {
 public:
  Client(NetworkEnv& env, Config config, runtime::EventLoop& loop)
      : env_(env), config_(std::move(config)), loop_(loop), client_(env),
        reader_(client_.open_reader(protocol::ReaderOptions{config_.stream, config_.members})) {}

  int exit_code() const { return exit_code_; }

  void start() override {
    if (config_.mode == "write") {
      acked_.open(config_.acked, std::ios::app);
      if (config_.per_second > 0) pace();
      claim();
    } else {
      load_expected();
      read_next();
    }
  }

  void receive(NodeId from, std::string_view bytes) override {
    if (client_.receive(from, bytes) == client::Routed::kWriter) pump();
  }

 private:
  void finish(int code, const std::string& why) {
    if (exit_code_ >= 0) return;
    exit_code_ = code;
    std::fprintf(stderr, "walle-e2e-client: %s\n", why.c_str());
    loop_.stop();
  }

  void claim() {
    protocol::ClaimOptions options{config_.stream, config_.members, config_.lease_ns};
    options.preempt = true;
    protocol::WriterOptions writer{config_.stream, config_.members, config_.lease_ns};
    (void)client_.claim(
        std::move(options), std::move(writer), [this](absl::StatusOr<client::Claimed> claimed) {
          if (!claimed.ok()) {
            std::fprintf(stderr, "walle-e2e-client: claim failed (%s); again\n",
                         claimed.status().ToString().c_str());
            env_.clock.start_timer(200 * kNanosPerMilli, [this] { claim(); });
            return;
          }
          const protocol::ClaimResult& result = claimed->result;
          std::fprintf(stderr, "walle-e2e-client: writer %llu.%llu continues after entry %llu\n",
                       static_cast<unsigned long long>(result.writer.ts),
                       static_cast<unsigned long long>(result.writer.id),
                       static_cast<unsigned long long>(result.tail_id));
          pump();
        });
  }

  void pump() {
    protocol::Writer* w = client_.writer(config_.stream);
    if (w == nullptr) return;
    if (w->closed()) return finish(3, absl::StrCat("fenced: ", w->close_reason().ToString()));
    while (sent_ < config_.entries && (config_.per_second == 0 || sent_ < allowed_)) {
      std::string data = absl::StrCat("e2e ", env_.self, " #", sent_, " ");
      data.resize(std::max(data.size(), config_.entry_bytes), static_cast<char>('a' + sent_ % 26));
      const std::string copy = data;
      absl::StatusOr<uint64_t> id = w->put(std::move(data), [this, w, copy](absl::Status s) {
        if (!s.ok()) return;  // the writer closed: pump() reports it
        acked_ << w->committed_id() << " " << w->committed_checksum() << " " << copy << "\n";
        acked_.flush();
        if (++acknowledged_ == config_.entries) {
          finish(0, absl::StrCat("all ", acknowledged_, " entries acknowledged"));
        }
      });
      if (!id.ok()) break;  // the pipeline is full: a commit makes room
      ++sent_;
    }
  }

  // Every 10 ms, a hundredth of a second's entries more may go out.
  void pace() {
    allowed_ += std::max<uint64_t>(1, config_.per_second / 100);
    pump();
    env_.clock.start_timer(10 * kNanosPerMilli, [this] { pace(); });
  }

  void load_expected() {
    for (const std::string& path : config_.expect) {
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        uint64_t id = 0;
        uint64_t checksum = 0;
        if (!(fields >> id >> checksum)) continue;  // a line cut by kill -9
        std::string data;
        fields.get();  // the space
        std::getline(fields, data);
        expected_[id] = {checksum, data};
      }
    }
    if (expected_.empty()) finish(0, "nothing acknowledged to check");
  }

  void read_next() {
    if (exit_code_ >= 0) return;
    absl::Status started = reader_.read(
        next_id_, 200 * kNanosPerMilli, [this](absl::StatusOr<std::vector<Entry>> entries) {
          if (entries.ok()) {
            for (const Entry& e : *entries) {
              if (e.checksum != chain_checksum(checksum_, e.data)) {
                return finish(2, absl::StrCat("entry ", e.id, " does not chain"));
              }
              auto it = expected_.find(e.id);
              if (it != expected_.end()) {
                if (it->second.first != e.checksum || it->second.second != e.data) {
                  return finish(2, absl::StrCat("acknowledged entry ", e.id,
                                                " reads back different"));
                }
                ++verified_;
              }
              checksum_ = e.checksum;
              next_id_ = e.id + 1;
            }
          }
          if (next_id_ > expected_.rbegin()->first) {
            return finish(0, absl::StrCat("read ", next_id_ - 1, " entries; all ", verified_,
                                          " acknowledged entries present, in order, intact"));
          }
          env_.clock.start_timer(0, [this] { read_next(); });
        });
    if (!started.ok()) env_.clock.start_timer(10 * kNanosPerMilli, [this] { read_next(); });
  }

  NetworkEnv& env_;
  Config config_;
  runtime::EventLoop& loop_;
  client::StreamClient client_;
  protocol::Reader& reader_;
  std::ofstream acked_;
  uint64_t sent_ = 0;
  uint64_t allowed_ = 0;
  uint64_t acknowledged_ = 0;
  std::map<uint64_t, std::pair<uint64_t, std::string>> expected_;
  uint64_t next_id_ = 1;
  uint64_t checksum_ = 0;
  uint64_t verified_ = 0;
  int exit_code_ = -1;
};

int run(int argc, char** argv) {
  Config config;
  std::string cluster_path;
  std::string secret_path;
  int64_t lease_ms = 1000;
  int timeout_s = 60;
  CLI::App app{"walle-e2e-client: a writer or a reader in its own process, for tests/e2e"};
  app.add_option("mode", config.mode, "write or read")->required()->check(CLI::IsMember({"write", "read"}));
  app.add_option("--cluster-file", cluster_path)->required();
  app.add_option("--secret-file", secret_path)->required();
  app.add_option("--stream", config.stream)->required();
  app.add_option("--entries", config.entries)->capture_default_str();
  app.add_option("--entry-bytes", config.entry_bytes)->capture_default_str();
  app.add_option("--lease-ms", lease_ms)->capture_default_str();
  app.add_option("--per-second", config.per_second, "write: at most this many entries a second")
      ->capture_default_str();
  app.add_option("--acked", config.acked, "write: where acknowledged entries are appended");
  app.add_option("--expect", config.expect, "read: acked files whose entries must be there");
  app.add_option("--timeout-s", timeout_s)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  config.lease_ns = lease_ms * kNanosPerMilli;
  if (config.mode == "write" && config.acked.empty()) {
    std::fprintf(stderr, "write needs --acked\n");
    return 2;
  }

  absl::StatusOr<runtime::ClusterFile> cluster = runtime::read_cluster_file(cluster_path);
  absl::StatusOr<std::string> secret = runtime::read_secret_file(secret_path);
  if (!cluster.ok() || !secret.ok()) {
    std::fprintf(stderr, "%s\n", (!cluster.ok() ? cluster.status() : secret.status()).ToString().c_str());
    return 2;
  }
  config.members = cluster->server_ids();
  absl::StatusOr<std::unique_ptr<runtime::EventLoop>> loop = runtime::EventLoop::create();
  if (!loop.ok()) return 1;
  runtime::SystemRandom random;
  net::TcpOptions tcp;
  tcp.self = static_cast<NodeId>(link::kFirstClientId + random.uniform(1u << 30));
  tcp.role = link::Role::kClient;
  tcp.cluster_id = cluster->cluster_id;
  tcp.secret = *secret;
  tcp.servers = cluster->servers;
  absl::StatusOr<std::unique_ptr<net::TcpTransport>> transport = net::TcpTransport::create(
      **loop, **loop, random, tcp, [](net::LogLevel level, std::string_view line) {
        if (level >= net::LogLevel::kWarning) {
          std::fprintf(stderr, "walle-e2e-client: %.*s\n", static_cast<int>(line.size()), line.data());
        }
      });
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return 1;
  }
  NetworkEnv env{tcp.self, **loop, **transport, random};
  Client client(env, config, **loop);
  (*transport)->set_node(&client);
  (*transport)->start();
  client.start();
  (*loop)->start_timer(timeout_s * kNanosPerSecond, [&] {
    std::fprintf(stderr, "walle-e2e-client: timed out after %d s\n", timeout_s);
    (*loop)->stop();
  });
  (void)(*loop)->run();
  (*transport)->shutdown();
  return client.exit_code() < 0 ? 1 : client.exit_code();
}

}  // namespace
}  // namespace walle::e2e

int main(int argc, char** argv) { return walle::e2e::run(argc, argv); }
