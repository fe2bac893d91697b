#pragma once

// LeaseRestartScenario: a majority of members restarts while a writer trusts its lease, and
// another client claims at once, preempting. A restarted member does not know when it last
// renewed the lease, so it must wait out the longest lease it ever granted from the restart;
// one that forgot would let the new writer commit while the old one still trusts its lease
// (the lease safety checker judges it). Picked per seed by the protocol workload's swarm.

#include <cstdint>
#include <vector>

#include "core/env/node_id.h"
#include "sim/workloads/scenario_clients.h"

namespace walle::sim {
class Simulation;
}

namespace walle::sim::protocol_workload {

class LeaseRestartScenario {
 public:
  LeaseRestartScenario(Simulation& sim, std::vector<NodeId> members, ScenarioClients clients);

  // Runs from `at_ns` on (simulated time); does nothing after cancel().
  void start(int64_t at_ns);
  void cancel() { ++generation_; }

 private:
  void find_writer(int polls_left);
  void restart_majority(NodeId writer);
  template <class F>
  void after(int64_t delay_ns, F step);

  Simulation& sim_;
  std::vector<NodeId> members_;
  ScenarioClients clients_;
  uint64_t generation_ = 0;
};

}  // namespace walle::sim::protocol_workload
