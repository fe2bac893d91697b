#pragma once

// TailRotScenario: a targeted fault the swarm can pick per seed, the shape that lost
// acknowledged entries before recovery told torn writes from rot (docs/simulation.md,
// "Targeted scenarios"):
//   1. a minority of members (the laggards) is cut off, so the others keep acknowledging
//      entries the laggards lack;
//   2. the victim (a corruptible member, within the corruption budget) crashes, and bits of
//      its newest live records rot: acknowledged entries, maybe uncommitted ones;
//   3. it restarts while the laggards come back and every other member is cut off, so the
//      only majority a claim can form is the victim plus the laggards;
//   4. later the network heals.
// A victim whose recovery hid the damage would let that claim choose a laggard's shorter tail
// and lose what the victim acknowledged; the workload's durability checker judges every claim.

#include <cstdint>
#include <vector>

#include "core/env/node_id.h"

namespace walle::sim {

class Simulation;

class TailRotScenario {
 public:
  // `members` are the stream's members; `victim` one of them whose disk may be corrupted.
  TailRotScenario(Simulation& sim, std::vector<NodeId> members, NodeId victim);

  // Runs the steps from `at_ns` on (simulated time); does nothing after cancel().
  void start(int64_t at_ns);
  void cancel() { ++generation_; }

 private:
  void cut_off_laggards();
  void rot_and_crash_victim();
  void isolate_all_but(const std::vector<NodeId>& keep);
  template <class F>
  void after(int64_t delay_ns, F step);

  Simulation& sim_;
  std::vector<NodeId> members_;
  NodeId victim_;
  std::vector<NodeId> laggards_;
  uint64_t generation_ = 0;
};

}  // namespace walle::sim
