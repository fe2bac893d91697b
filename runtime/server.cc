#include "runtime/server.h"

#include <signal.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/data_dir.h"
#include "runtime/descriptor_budget.h"
#include "runtime/server_metrics.h"

namespace walle::runtime {
absl::StatusOr<std::unique_ptr<Server>> Server::create(const ServerOptions& options, Logger& log) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is required");
  if (options.node_id == kInvalidNodeId) return absl::InvalidArgumentError("--node-id is required");
  if (options.cluster_file.empty()) return absl::InvalidArgumentError("--cluster-file is required");
  if (options.secret_file.empty()) return absl::InvalidArgumentError("--secret-file is required");
  std::unique_ptr<Server> s(new Server(options, log));

  absl::StatusOr<ClusterFile> cluster = read_cluster_file(options.cluster_file);
  if (!cluster.ok()) return cluster.status();
  s->cluster_ = std::move(*cluster);
  auto self = s->cluster_.servers.find(options.node_id);
  if (self == s->cluster_.servers.end()) {
    return absl::InvalidArgumentError(absl::StrCat("node ", options.node_id, " is not a server of ",
                                                   options.cluster_file));
  }
  absl::StatusOr<std::string> secret = read_secret_file(options.secret_file);
  if (!secret.ok()) return secret.status();

  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::create();
  if (!loop.ok()) return loop.status();
  s->loop_ = std::move(*loop);
  // Before the disk's I/O thread exists, so that it inherits the blocked signals.
  if (absl::Status st = s->loop_->handle_signals([p = s.get()](int sig) { p->on_signal(sig); });
      !st.ok()) {
    return st;
  }

  absl::StatusOr<DescriptorBudget> descriptors =
      data_file_descriptor_budget(options.max_open_files, options.max_connections);
  if (!descriptors.ok()) return descriptors.status();
  if (!descriptors->warning.empty()) log.warning(descriptors->warning);
  s->max_open_files_ = descriptors->max_open_files;
  absl::StatusOr<std::unique_ptr<disk::PosixFileSystem>> files = disk::PosixFileSystem::Open(
      options.data_dir, *s->loop_,
      disk::PosixFileSystem::Options{.max_open_files = descriptors->max_open_files});
  if (!files.ok()) return files.status();  // names the directory; kFailedPrecondition: locked
  s->files_ = std::move(*files);
  if (absl::Status st = claim_data_dir(options.data_dir, s->cluster_.cluster_id, options.node_id);
      !st.ok()) {
    return st;
  }

  net::TcpOptions tcp;
  tcp.self = options.node_id;
  tcp.role = link::Role::kServer;
  tcp.cluster_id = s->cluster_.cluster_id;
  tcp.secret = std::move(*secret);
  tcp.servers = s->cluster_.servers;
  tcp.max_frame_bytes = options.max_frame_bytes;
  tcp.max_connections = options.max_connections;
  tcp.max_buffered_bytes = options.max_buffered_bytes;
  if (options.listen.empty()) {
    tcp.listen = self->second;
  } else {
    absl::StatusOr<net::Address> listen = net::parse_address(options.listen);
    if (!listen.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--listen ", listen.status().message()));
    }
    tcp.listen = *listen;
  }
  absl::StatusOr<std::unique_ptr<net::TcpTransport>> transport = net::TcpTransport::create(
      *s->loop_, *s->loop_, s->random_, std::move(tcp),
      [&log](net::LogLevel level, std::string_view line) { log.log(level, line); });
  if (!transport.ok()) return transport.status();
  s->transport_ = std::move(*transport);

  s->env_ = std::make_unique<Env>(Env{{options.node_id, *s->loop_, *s->transport_, s->random_, nullptr, &log.events(), nullptr},
          *s->files_});
  protocol::MemberOptions member;
  member.streams = s->cluster_.streams;
  member.members = s->cluster_.server_ids();
  member.store.max_entry_bytes = options.max_entry_bytes;
  member.store.segment_bytes = options.segment_bytes;
  member.replica.members = member.members;
  if (absl::Status st = member.store.validate(); !st.ok()) return st;
  if (options.sync == "journal") {
    storage::JournalOptions journal;
    journal.segment_bytes = options.journal_segment_bytes;
    journal.checkpoint_segments = options.journal_checkpoint_segments;
    if (absl::Status st = journal.validate(); !st.ok()) return st;
    member.journal = journal;
  } else if (options.sync != "per-stream") {
    return absl::InvalidArgumentError(
        absl::StrCat("--sync ", options.sync, ": must be journal or per-stream"));
  }
  s->node_ = std::make_unique<protocol::MemberNode>(*s->env_, std::move(member));

  if (!options.metrics_listen.empty()) {
    absl::StatusOr<net::Address> at = net::parse_address(options.metrics_listen);
    if (!at.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics-listen ", at.status().message()));
    }
    net::MetricsEndpointOptions endpoint;
    endpoint.listen = *at;
    Server* p = s.get();
    absl::StatusOr<std::unique_ptr<net::MetricsEndpoint>> metrics = net::MetricsEndpoint::create(
        *s->loop_, *s->loop_, std::move(endpoint),
        [p] {
          return render_server_metrics(MetricsSources{*p->node_, p->cluster_.streams, *p->files_,
                                                      *p->transport_, p->metrics_->scrapes()});
        },
        [&log](net::LogLevel level, std::string_view line) { log.log(level, line); });
    if (!metrics.ok()) return metrics.status();
    s->metrics_ = std::move(*metrics);
  }
  return s;
}

Server::~Server() {
  // The node first (it closes its files), then the transport, then the file system (which
  // runs what is still queued), and the loop last: every completion's target is gone or
  // never runs. The metrics endpoint, which reads them all, goes first.
  metrics_.reset();
  node_.reset();
  if (transport_) transport_->shutdown();
  transport_.reset();
  files_.reset();
}

absl::Status Server::run() {
  transport_->set_node(node_.get());
  transport_->start();
  node_->start();
  log_.info(absl::StrCat("serving cluster=", cluster_.cluster_id, " node=", options_.node_id,
                         " streams=", cluster_.streams.size(), " data_dir=", options_.data_dir,
                         " max_open_files=", max_open_files_, " port=", transport_->listen_port(),
                         metrics_ ? absl::StrCat(" metrics_port=", metrics_->port()) : ""));
  absl::Status status = loop_->run();
  if (!status.ok()) return status;
  log_.info(forced_ ? "stopped at once (second signal)" : "stopped cleanly");
  return absl::OkStatus();
}

void Server::on_signal(int signal) {
  if (stopping_) {
    log_.warning(absl::StrCat("signal ", signal, " again: stopping at once"));
    forced_ = true;
    loop_->stop();
    return;
  }
  stopping_ = true;
  log_.info(absl::StrCat("signal ", signal, ": stopping (no new connections or requests; "
                         "waiting up to ", options_.shutdown_timeout_ms,
                         " ms for in-flight syncs and their acknowledgements)"));
  transport_->stop_accepting();
  drain_then_stop(loop_->now_ns() + options_.shutdown_timeout_ms * kNanosPerMilli);
}

void Server::drain_then_stop(int64_t deadline_ns) {
  // New requests are no longer delivered, but completions still run: their acknowledgements
  // go out, to connections that stay open until those are written.
  transport_->set_node(nullptr);
  const bool drained = files_->in_flight() == 0 && transport_->queued_bytes() == 0;
  if (drained || loop_->now_ns() >= deadline_ns) {
    if (!drained) {
      log_.warning(absl::StrCat("stopping with ", files_->in_flight(), " disk operations and ",
                                transport_->queued_bytes(), " bytes of replies outstanding"));
    }
    loop_->stop();
    return;
  }
  loop_->start_timer(5 * kNanosPerMilli, [this, deadline_ns] { drain_then_stop(deadline_ns); });
}

}  // namespace walle::runtime
