#pragma once

#include <cstdint>
#include <functional>

#include "absl/container/btree_set.h"
#include "core/env/node_id.h"
#include "sim/fault_plan.h"

namespace walle::sim {

class Simulation;

// Injects the process, network and disk faults of a FaultPlan at random times, within limits
// that keep the run meaningful (at most `max_down` nodes down at once), until heal().
class Nemesis {
 public:
  struct Hooks {
    // Called after a node's disk is wiped, before it restarts (checkers reset expectations).
    std::function<void(NodeId)> on_wipe;
    // Whether the disk of `node` may be corrupted now (the corruption budget); default: yes.
    std::function<bool(NodeId)> may_corrupt;
  };

  Nemesis(Simulation& sim, const FaultPlan& plan, uint32_t max_down, Hooks hooks = {});

  // Starts injecting; stops by itself at `until_ns` or at heal().
  void start(int64_t until_ns);

  // Ends every fault: stops injecting, heals the network, turns off per-message and per-I/O
  // faults and BUGGIFY, resumes nothing (pauses end by themselves) and restarts every down
  // node.
  void heal();

  bool active() const { return active_; }

  // A targeted scenario choreographs these nodes: no crash, pause or partition of theirs,
  // nor a heal of a partition made earlier, until spare(node, false). Disk and message faults
  // still hit them.
  void spare(NodeId node, bool spared);

 private:
  static constexpr int64_t kTickNs = 10 * kNanosPerMilli;
  void tick();
  bool fires(double per_second);
  NodeId random_node();
  bool is_spared(NodeId node) const { return spared_.contains(node); }
  void crash_one();

  Simulation& sim_;
  FaultPlan plan_;
  uint32_t max_down_;
  Hooks hooks_;
  bool active_ = false;
  int64_t until_ns_ = 0;
  absl::btree_set<NodeId> spared_;
  uint64_t generation_ = 0;  // restarts scheduled before heal() are ignored after it
};

}  // namespace walle::sim
