#include "sim/simulation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace walle::sim {
namespace {
// Streams of the run's PRNG, so that each consumer's draws are independent of the others'.
enum PrngStream : uint64_t { kWorkloadStream = 1, kNetworkStream = 2, kNodeStream = 100 };
}  // namespace

absl::StatusOr<std::unique_ptr<Simulation>> Simulation::create(const SimConfig& config,
                                                               NodeFactory factory) {
  if (absl::Status s = config.validate(); !s.ok()) return s;
  if (!factory) return absl::InvalidArgumentError("a simulation needs a node factory");
  return std::unique_ptr<Simulation>(new Simulation(config, std::move(factory)));
}

Simulation::Simulation(const SimConfig& config, NodeFactory factory)
    : config_(config),
      factory_(std::move(factory)),
      prng_(Prng(config.seed).fork(kWorkloadStream)) {
  network_ = std::make_unique<Network>(*this, config_.network, config_.node_count,
                                       Prng(config.seed).fork(kNetworkStream));
  for (NodeId id = 0; id < config_.node_count; ++id) {
    Prng node_prng = Prng(config.seed).fork(kNodeStream + id);
    const int64_t drift_ppm =
        node_prng.uniform_between(-config_.max_clock_drift_ppm, config_.max_clock_drift_ppm);
    // Clocks start far apart, so code that compares two nodes' clocks fails fast.
    const int64_t origin_ns = node_prng.uniform_between(0, 1000) * kNanosPerSecond;
    hosts_.push_back(
        std::make_unique<NodeHost>(*this, id, origin_ns, drift_ppm, node_prng.next_u64()));
  }
}

absl::Status Simulation::check_node(NodeId node) const {
  if (node >= config_.node_count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown node ", node, "; this cluster has nodes 0..", config_.node_count - 1));
  }
  return absl::OkStatus();
}

absl::Status Simulation::start(NodeId node) {
  if (absl::Status s = check_node(node); !s.ok()) return s;
  NodeHost& h = *hosts_[node];
  if (h.up()) return absl::FailedPreconditionError(absl::StrCat("node ", node, " is already up"));
  const bool restart = h.incarnation() > 0;
  if (restart) ++stats_.restarts;
  trace_.record(now_ns(), node, TraceKind::kRestart, h.incarnation());
  if (trace_.text_enabled()) trace_.text(now_ns(), node, restart ? "restart" : "boot");
  h.boot(factory_);
  return absl::OkStatus();
}

void Simulation::start_all() {
  for (NodeId id = 0; id < config_.node_count; ++id) {
    if (!hosts_[id]->up()) (void)start(id);
  }
}

absl::Status Simulation::crash(NodeId node, std::optional<CrashMode> mode) {
  if (absl::Status s = check_node(node); !s.ok()) return s;
  NodeHost& h = *hosts_[node];
  if (!h.up())
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is already down"));
  if (before_crash_) before_crash_(node);
  ++stats_.crashes;
  trace_.record(now_ns(), node, TraceKind::kCrash);
  if (trace_.text_enabled()) trace_.text(now_ns(), node, "crash");
  h.crash(mode);
  network_->reset_all(node);
  return absl::OkStatus();
}

absl::Status Simulation::pause(NodeId node, int64_t duration_ns) {
  if (absl::Status s = check_node(node); !s.ok()) return s;
  if (duration_ns <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pause duration ", duration_ns, "ns must be > 0"));
  }
  NodeHost& h = *hosts_[node];
  if (!h.up()) return absl::FailedPreconditionError(absl::StrCat("node ", node, " is down"));
  if (h.paused())
    return absl::FailedPreconditionError(absl::StrCat("node ", node, " is already paused"));
  ++stats_.pauses;
  trace_.record(now_ns(), node, TraceKind::kPause, static_cast<uint64_t>(duration_ns));
  if (trace_.text_enabled()) {
    trace_.text(now_ns(), node, absl::StrFormat("pause for %dms", duration_ns / kNanosPerMilli));
  }
  h.pause();
  // The resume belongs to this incarnation only: a crash during the pause ends it anyway.
  scheduler_.schedule_after(duration_ns, [this, &h, incarnation = h.incarnation()] {
    if (h.incarnation() != incarnation) return;
    trace_.record(now_ns(), h.id(), TraceKind::kResume);
    if (trace_.text_enabled()) trace_.text(now_ns(), h.id(), "resume");
    h.resume();
  });
  return absl::OkStatus();
}

absl::Status Simulation::wipe(NodeId node) {
  if (absl::Status s = check_node(node); !s.ok()) return s;
  NodeHost& h = *hosts_[node];
  if (h.up()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node, " is up; crash it before wiping its disk"));
  }
  ++stats_.wipes;
  trace_.record(now_ns(), node, TraceKind::kWipe);
  if (trace_.text_enabled()) trace_.text(now_ns(), node, "wipe disk");
  h.disk().wipe();
  return absl::OkStatus();
}

bool Simulation::is_up(NodeId node) const {
  return node < config_.node_count && hosts_[node]->up();
}

Node* Simulation::node(NodeId node) {
  if (node >= config_.node_count) return nullptr;
  return hosts_[node]->node();
}

}  // namespace walle::sim
