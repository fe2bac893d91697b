#pragma once

// LeaseRestartScenario: a majority of members restarts while a writer trusts its lease, and
// another client claims at once, preempting. A restarted member does not know when it last
// renewed the lease, so it must wait out the longest lease it ever granted from the restart;
// one that forgot would let the new writer commit while the old one still trusts its lease
// (the lease safety checker judges it). Picked per seed by the protocol workload's swarm.
//
// With `tear`, each restarted member crashes at a moment its disk holds unsynced writes,
// tearing them: a majority then recovers with uncertain tails (torn, or rot: recovery cannot
// tell), so the claim that follows must count uncertain tails once every member answered
// (ClaimCoordinator::on_tail), a path the swarm's random crashes almost never reach.

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
  LeaseRestartScenario(Simulation& sim, std::vector<NodeId> members, ScenarioClients clients,
                       bool tear);

  // Runs from `at_ns` on (simulated time); does nothing after cancel().
  void start(int64_t at_ns);
  void cancel();
  ~LeaseRestartScenario() { cancel(); }
  bool tears() const { return tear_; }

 private:
  void find_writer(int polls_left);
  void restart_majority(NodeId writer);
  // Crashes `member`; with tear_, at the first write it makes (or after a deadline).
  void crash_member(NodeId member);
  void crash_now(NodeId member, bool torn);
  void restart_then_claim();
  template <class F>
  void after(int64_t delay_ns, F step);

  Simulation& sim_;
  std::vector<NodeId> members_;
  ScenarioClients clients_;
  bool tear_;
  uint64_t generation_ = 0;
  std::vector<NodeId> restarted_;
  std::vector<NodeId> to_crash_;  // restarted members not crashed yet
  NodeId taker_ = 0;
};

}  // namespace walle::sim::protocol_workload
