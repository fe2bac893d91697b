#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/config.h"
#include "sim/network.h"
#include "sim/node_host.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/stats.h"
#include "sim/trace.h"

namespace walle::sim {

// One cluster in one thread. Everything that happens is an event in the scheduler, and every
// random choice comes from the seed in the config, so a seed replays a run exactly.
//
//   auto sim = Simulation::create(config, [](Env& env) { return std::make_unique<MyNode>(env); });
//   (*sim)->start_all();
//   (*sim)->run_for(10 * kNanosPerSecond);
class Simulation {
 public:
  // kInvalidArgument for a bad config (see SimConfig::validate) or a missing factory.
  static absl::StatusOr<std::unique_ptr<Simulation>> create(const SimConfig& config,
                                                            NodeFactory factory);
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  const SimConfig& config() const { return config_; }
  uint32_t node_count() const { return config_.node_count; }
  int64_t now_ns() const { return scheduler_.now_ns(); }

  // Running.
  bool step() { return scheduler_.step(); }
  void run_until(int64_t until_ns) { scheduler_.run_until(until_ns); }
  void run_for(int64_t duration_ns) { scheduler_.run_until(now_ns() + duration_ns); }

  // Processes. Each returns kInvalidArgument for an unknown node id and kFailedPrecondition if
  // the node is in the wrong state (e.g. crashing a node that is down).
  absl::Status start(NodeId node);  // boot or restart over the durable disk
  void start_all();                 // every node that is down
  absl::Status crash(NodeId node, std::optional<CrashMode> mode = std::nullopt);
  // Runs just before any crash takes effect, while the process still exists: checkers record
  // what must survive it.
  void set_before_crash(std::function<void(NodeId)> hook) { before_crash_ = std::move(hook); }
  absl::Status pause(NodeId node, int64_t duration_ns);  // like SIGSTOP, then SIGCONT
  absl::Status wipe(NodeId node);                        // requires the node to be down
  bool is_up(NodeId node) const;

  // The node's logic, or nullptr if it is down or the id is unknown.
  Node* node(NodeId node);
  template <class T>
  T* node_as(NodeId id) {
    return dynamic_cast<T*>(node(id));
  }

  Network& network() { return *network_; }
  NodeHost& host(NodeId node) { return *hosts_.at(node); }
  SimDisk& disk(NodeId node) { return hosts_.at(node)->disk(); }
  Scheduler& scheduler() { return scheduler_; }
  Trace& trace() { return trace_; }
  SimStats& stats() { return stats_; }
  // Randomness for workloads and fault schedules, independent of the nodes' own.
  Prng& prng() { return prng_; }

  // OK if `node` names a node of this cluster, else kInvalidArgument saying which exist.
  absl::Status check_node(NodeId node) const;

 private:
  Simulation(const SimConfig& config, NodeFactory factory);

  SimConfig config_;
  NodeFactory factory_;
  Prng prng_;
  Scheduler scheduler_;
  Trace trace_;
  SimStats stats_;
  std::unique_ptr<Network> network_;
  std::vector<std::unique_ptr<NodeHost>> hosts_;
  std::function<void(NodeId)> before_crash_;
};

}  // namespace walle::sim
