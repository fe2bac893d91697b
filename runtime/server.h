#pragma once

// The walle server process (docs/operations.md): one event loop running a MemberNode over
// real files (PosixFileSystem) and TCP (TcpTransport). The same core state machines the
// simulator runs; nothing here decides anything about the protocol.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/env/env.h"
#include "core/protocol/member_node.h"
#include "disk/posix_file_system.h"
#include "net/metrics_endpoint.h"
#include "net/tcp_transport.h"
#include "runtime/cluster_file.h"
#include "runtime/event_loop.h"
#include "runtime/logger.h"
#include "runtime/system_random.h"

namespace walle::runtime {

struct ServerOptions {
  std::string data_dir;
  NodeId node_id = kInvalidNodeId;
  std::string cluster_file;
  std::string secret_file;
  std::string listen;  // HOST:PORT; empty: this node's address in the cluster file
  std::string metrics_listen;  // HOST:PORT of the Prometheus endpoint; empty: none
  uint64_t max_entry_bytes = 1 << 20;
  uint32_t max_frame_bytes = 16u << 20;
  size_t max_connections = 1024;
  size_t max_buffered_bytes = 64u << 20;  // per connection
  uint64_t segment_bytes = 64ULL << 20;
  // Data files' descriptors kept open at most (PosixFileSystem::Options); 0: all that the
  // open-file limit leaves after max_connections (descriptor_budget.h).
  size_t max_open_files = 0;
  // "journal": every stream syncs through one shared journal (one fdatasync per round for
  // all streams); "per-stream": each stream syncs its own segment files.
  std::string sync = "journal";
  uint64_t journal_segment_bytes = 64ULL << 20;
  uint64_t journal_checkpoint_segments = 4;
  // A clean stop waits this long at most for in-flight syncs and their acknowledgements.
  int64_t shutdown_timeout_ms = 5000;
};

class Server {
 public:
  // Checks everything a start needs (cluster file, secret, data dir identity and lock) and
  // binds the listening socket; an error names what is wrong. Blocks SIGTERM and SIGINT
  // first (call before any other thread starts).
  static absl::StatusOr<std::unique_ptr<Server>> create(const ServerOptions& options,
                                                        Logger& log);
  ~Server();

  // Serves until SIGTERM or SIGINT, then stops cleanly: no new connections or requests,
  // in-flight syncs finish and their acknowledgements go out (shutdown_timeout_ms at most),
  // files close. A second signal stops at once. OK on a clean stop.
  absl::Status run();

  uint16_t listen_port() const { return transport_->listen_port(); }
  // 0 without a metrics endpoint.
  uint16_t metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  Server(const ServerOptions& options, Logger& log) : options_(options), log_(log) {}
  void on_signal(int signal);
  void drain_then_stop(int64_t deadline_ns);

  ServerOptions options_;
  Logger& log_;
  ClusterFile cluster_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<disk::PosixFileSystem> files_;
  size_t max_open_files_ = 0;  // the data files' descriptor cap in force
  SystemRandom random_;
  std::unique_ptr<net::TcpTransport> transport_;
  std::unique_ptr<Env> env_;
  std::unique_ptr<protocol::MemberNode> node_;
  std::unique_ptr<net::MetricsEndpoint> metrics_;
  bool stopping_ = false;
  bool forced_ = false;
};

}  // namespace walle::runtime
