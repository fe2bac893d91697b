#pragma once

// LeaseTakeoverScenario: while a client writes and trusts its lease, something takes the
// lease's props away and another client claims at once, preempting. Picked per seed by the
// protocol workload's swarm; three kinds:
// - kRestart: a majority of members restarts. A restarted member does not know when it last
//   renewed the lease, so it must wait out the longest lease it ever granted from the restart.
// - kTornRestart: the same, but each restarted member crashes right after its live log takes
//   a write spanning sectors, before the sync, tearing it: a majority recovers with uncertain
//   tails, so the claim must count them once every member answered (ClaimCoordinator::on_tail),
//   a path random crashes almost never reach.
// - kClogWriter: every message to and from the writer is held for longer than its lease.
//   Members stop hearing its heartbeats and the claim gets through once their leases ran
//   out; when the held replies arrive at once, the writer must not take them for fresh
//   renewals (its lease counts from when it sent, never from when a reply came).
// The lease-interval checker judges each at every step.

#include <cstdint>
#include <vector>

#include "core/env/node_id.h"
#include "sim/workloads/scenario_clients.h"

namespace walle::sim {
class Simulation;
}

namespace walle::sim::protocol_workload {

class LeaseTakeoverScenario {
 public:
  enum class Kind { kRestart = 1, kTornRestart = 2, kClogWriter = 3 };

  LeaseTakeoverScenario(Simulation& sim, std::vector<NodeId> members, ScenarioClients clients,
                        Kind kind, int64_t lease_ns);
  ~LeaseTakeoverScenario() { cancel(); }

  // Runs from `at_ns` on (simulated time); does nothing after cancel().
  void start(int64_t at_ns);
  void cancel();
  Kind kind() const { return kind_; }
  static const char* kind_name(Kind kind);

 private:
  void find_writer(int polls_left);
  void strike(NodeId writer);
  void restart_majority();
  // Crashes `member`; for kTornRestart at the first write it makes (or after a deadline).
  void crash_member(NodeId member);
  void crash_now(NodeId member, bool torn);
  void restart_then_claim();
  void claim_soon(int64_t min_ms, int64_t max_ms);
  template <class F>
  void after(int64_t delay_ns, F step);

  Simulation& sim_;
  std::vector<NodeId> members_;
  ScenarioClients clients_;
  Kind kind_;
  int64_t lease_ns_;
  uint64_t generation_ = 0;
  std::vector<NodeId> restarted_;
  std::vector<NodeId> to_crash_;  // restarted members not crashed yet
  NodeId taker_ = 0;
};

}  // namespace walle::sim::protocol_workload
