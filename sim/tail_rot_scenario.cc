#include "sim/tail_rot_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim {

TailRotScenario::TailRotScenario(Simulation& sim, std::vector<NodeId> members, NodeId victim)
    : sim_(sim), members_(std::move(members)), victim_(victim) {
  WALLE_CHECK(std::find(members_.begin(), members_.end(), victim_) != members_.end());
}

template <class F>
void TailRotScenario::after(int64_t delay_ns, F step) {
  sim_.scheduler().schedule_after(delay_ns, [this, step, generation = generation_] {
    if (generation == generation_) step();
  });
}

void TailRotScenario::start(int64_t at_ns) {
  after(std::max<int64_t>(0, at_ns - sim_.now_ns()), [this] { cut_off_laggards(); });
}

void TailRotScenario::cut_off_laggards() {
  Prng& prng = sim_.prng();
  std::vector<NodeId> others;
  for (NodeId m : members_) {
    if (m != victim_) others.push_back(m);
  }
  const size_t minority = (members_.size() - 1) / 2;
  while (laggards_.size() < minority) {
    const size_t pick = prng.uniform(others.size());
    laggards_.push_back(others[pick]);
    others.erase(others.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  for (NodeId l : laggards_) sim_.network().isolate(l);
  // Long enough for the others to acknowledge entries the laggards lack.
  after(prng.uniform_between(100, 400) * kNanosPerMilli, [this] { rot_and_crash_victim(); });
}

void TailRotScenario::rot_and_crash_victim() {
  Prng& prng = sim_.prng();
  const bool was_up = sim_.is_up(victim_);
  if (was_up) WALLE_CHECK(sim_.crash(victim_, sim_.disk(victim_).random_crash_mode()).ok());
  // The last few records: an acknowledged entry or two, a commit record, a sync mark.
  const uint64_t window = prng.chance(0.5) ? 256 : 2048;
  if (sim_.disk(victim_).rot_newest_records(".live.", window,
                                            static_cast<int>(prng.uniform_between(1, 3)))) {
    ++sim_.stats().tail_rots;
  }
  after(prng.uniform_between(1, 20) * kNanosPerMilli, [this, was_up] {
    if (was_up && !sim_.is_up(victim_)) WALLE_CHECK(sim_.start(victim_).ok());
    // The only majority left: the victim and the laggards.
    for (NodeId l : laggards_) {
      for (NodeId n = 0; n < sim_.node_count(); ++n) {
        if (n != l) sim_.network().heal(l, n);
      }
    }
    std::vector<NodeId> keep = laggards_;
    keep.push_back(victim_);
    isolate_all_but(keep);
    after(sim_.prng().uniform_between(1000, 3000) * kNanosPerMilli, [this] {
      for (NodeId m : members_) {
        for (NodeId n = 0; n < sim_.node_count(); ++n) {
          if (n != m) sim_.network().heal(m, n);
        }
      }
    });
  });
}

void TailRotScenario::isolate_all_but(const std::vector<NodeId>& keep) {
  for (NodeId m : members_) {
    if (std::find(keep.begin(), keep.end(), m) == keep.end()) sim_.network().isolate(m);
  }
}

}  // namespace walle::sim
