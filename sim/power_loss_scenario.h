#pragma once

// PowerLossScenario: every machine (members and clients) loses power at the same instant (a coordinated crash: the
// case that lost acknowledged writes in Jepsen's 2025 NATS analysis). Each disk keeps or loses
// its unsynced sectors independently, so many members restart with a torn tail, which their
// recovery cannot tell from rot (uncertain). Nothing acknowledged may be lost, and once all
// are back a claim must succeed (docs/protocol.md, "Damaged members").

#include <cstdint>

namespace walle::sim {

class Simulation;

class PowerLossScenario {
 public:
  explicit PowerLossScenario(Simulation& sim);

  // Cuts the power at `at_ns` (simulated time; call again for more cuts); nothing after cancel().
  void start(int64_t at_ns);
  void cancel() { ++generation_; }

 private:
  void cut_power();

  Simulation& sim_;
  uint64_t generation_ = 0;
};

}  // namespace walle::sim
