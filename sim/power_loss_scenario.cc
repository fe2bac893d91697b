#include "sim/power_loss_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim {

PowerLossScenario::PowerLossScenario(Simulation& sim) : sim_(sim) {}

void PowerLossScenario::start(int64_t at_ns) {
  sim_.scheduler().schedule_after(std::max<int64_t>(0, at_ns - sim_.now_ns()),
                                  [this, generation = generation_] {
                                    if (generation == generation_) cut_power();
                                  });
}

void PowerLossScenario::cut_power() {
  ++sim_.stats().power_losses;
  // Every machine: the clients too, so the writer is gone and a claim must follow.
  std::vector<NodeId> crashed;
  for (NodeId m = 0; m < sim_.node_count(); ++m) {
    if (!sim_.is_up(m)) continue;
    WALLE_CHECK(
        sim_.crash(m, sim_.disk(m).config().torn_writes ? CrashMode::kTorn : CrashMode::kLoseAll)
            .ok());
    crashed.push_back(m);
  }
  // Power returns to every machine at about the same time.
  const int64_t delay = sim_.prng().uniform_between(kNanosPerMilli, 50 * kNanosPerMilli);
  sim_.scheduler().schedule_after(delay, [this, crashed, generation = generation_] {
    if (generation != generation_) return;
    for (NodeId m : crashed) {
      if (!sim_.is_up(m)) WALLE_CHECK(sim_.start(m).ok());
    }
  });
}

}  // namespace walle::sim
