#include "sim/workloads/lease_restart_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {

LeaseRestartScenario::LeaseRestartScenario(Simulation& sim, std::vector<NodeId> members,
                                           ScenarioClients clients)
    : sim_(sim), members_(std::move(members)), clients_(std::move(clients)) {
  WALLE_CHECK(clients_.ids.size() >= 2);  // a writer, and another to take over
}

template <class F>
void LeaseRestartScenario::after(int64_t delay_ns, F step) {
  sim_.scheduler().schedule_after(delay_ns, [this, step, generation = generation_] {
    if (generation == generation_) step();
  });
}

void LeaseRestartScenario::start(int64_t at_ns) {
  after(std::max<int64_t>(0, at_ns - sim_.now_ns()), [this] { find_writer(2000); });
}

void LeaseRestartScenario::find_writer(int polls_left) {
  for (NodeId c : clients_.ids) {
    if (sim_.is_up(c) && clients_.writing(c) && clients_.has_work(c)) return restart_majority(c);
  }
  if (polls_left > 0) after(kNanosPerMilli, [this, polls_left] { find_writer(polls_left - 1); });
}

void LeaseRestartScenario::restart_majority(NodeId writer) {
  Prng& prng = sim_.prng();
  ++sim_.stats().lease_restarts;
  std::vector<NodeId> left = members_;
  std::vector<NodeId> restarted;
  while (restarted.size() < members_.size() / 2 + 1) {
    const size_t pick = prng.uniform(left.size());
    restarted.push_back(left[pick]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  for (NodeId m : restarted) {
    if (sim_.is_up(m)) WALLE_CHECK(sim_.crash(m, sim_.disk(m).random_crash_mode()).ok());
  }
  std::vector<NodeId> others;
  for (NodeId c : clients_.ids) {
    if (c != writer) others.push_back(c);
  }
  const NodeId taker = others[prng.uniform(others.size())];
  after(prng.uniform_between(1, 5) * kNanosPerMilli, [this, restarted, taker] {
    for (NodeId m : restarted) {
      if (!sim_.is_up(m)) WALLE_CHECK(sim_.start(m).ok());
    }
    // As soon as they serve again: well within the old writer's lease.
    after(sim_.prng().uniform_between(2, 10) * kNanosPerMilli, [this, taker] {
      if (sim_.is_up(taker)) clients_.claim_now(taker, /*preempt=*/true);
    });
  });
}

}  // namespace walle::sim::protocol_workload
