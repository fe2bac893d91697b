#pragma once

// SplitBrainScenario: a targeted fault the protocol workload's swarm picks per seed, the shape
// that reaches a claim's hardest paths (docs/simulation.md, "Targeted scenarios"):
//   1. the writing client X and one member A are cut off together, just as X's claim succeeds
//      or in the middle of its writing: X keeps writing to A, so A's tail grows with entries
//      no majority holds (a stale, longer tail);
//   2. another client Y claims through the rest, after X's lease or preempting it (then the
//      members' lease wait is what protects X), and writes;
//   3. Y crashes soon after, before (or just after) it announced its commit point;
//   4. A comes back, X stays cut off, and the members are cut so that any majority includes
//      A; Y restarts and claims again: the claim sees A's stale longer tail next to Y's
//      newer one, must choose by (writer, id), catch A up (a gap commit when Y's announced
//      commit lies inside A's foreign suffix) and repair A where it diverged;
//   5. later the network heals.
// The nemesis spares the members and both writers (no crash, pause or partition) meanwhile.

#include <cstdint>
#include <functional>
#include <vector>

#include "core/env/node_id.h"
#include "sim/workloads/scenario_clients.h"

namespace walle::sim {
class Nemesis;
class Simulation;
}

namespace walle::sim::protocol_workload {

class SplitBrainScenario {
 public:
  using Clients = ScenarioClients;

  SplitBrainScenario(Simulation& sim, Nemesis& nemesis, std::vector<NodeId> members,
                     Clients clients, int64_t lease_ns);

  // Runs the steps from `at_ns` on (simulated time); does nothing after cancel().
  void start(int64_t at_ns);
  void cancel() { ++generation_; }

 private:
  void find_writer(int polls_left);
  void cut_off_writer_with_one_member();
  void wait_for_new_writer(int polls_left);
  void crash_new_writer();
  void claim_with_stale_member();
  void heal_members();
  void cut_off(NodeId node, const std::vector<NodeId>& keep);
  void spare_cast(bool spared);
  template <class F>
  void after(int64_t delay_ns, F step);

  Simulation& sim_;
  Nemesis& nemesis_;
  std::vector<NodeId> members_;
  Clients clients_;
  int64_t lease_ns_;
  NodeId old_writer_ = 0;    // X
  NodeId stale_member_ = 0;  // A
  NodeId new_writer_ = 0;    // Y
  uint64_t generation_ = 0;
};

}  // namespace walle::sim::protocol_workload
