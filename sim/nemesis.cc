#include "sim/nemesis.h"

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim {

Nemesis::Nemesis(Simulation& sim, const FaultPlan& plan, uint32_t max_down, Hooks hooks)
    : sim_(sim), plan_(plan), max_down_(max_down), hooks_(std::move(hooks)) {}

void Nemesis::start(int64_t until_ns) {
  active_ = true;
  until_ns_ = until_ns;
  sim_.scheduler().schedule_after(kTickNs, [this, generation = generation_] {
    if (generation == generation_) tick();
  });
}

bool Nemesis::fires(double per_second) {
  if (per_second <= 0) return false;
  return sim_.prng().chance(per_second * static_cast<double>(kTickNs) / kNanosPerSecond);
}

NodeId Nemesis::random_node() {
  return static_cast<NodeId>(sim_.prng().uniform(sim_.node_count()));
}

void Nemesis::crash_one() {
  uint32_t down = 0;
  for (NodeId id = 0; id < sim_.node_count(); ++id) down += sim_.is_up(id) ? 0 : 1;
  if (down >= max_down_) return;
  const NodeId victim = random_node();
  if (!sim_.is_up(victim) || is_spared(victim)) return;
  WALLE_CHECK(sim_.crash(victim).ok());
  const bool wipe = sim_.prng().chance(plan_.wipe_probability);
  const int64_t delay = sim_.prng().uniform_between(kNanosPerMilli, plan_.restart_delay_max_ns);
  sim_.scheduler().schedule_after(delay, [this, victim, wipe, generation = generation_] {
    if (generation != generation_ || sim_.is_up(victim)) return;
    if (wipe) {
      WALLE_CHECK(sim_.wipe(victim).ok());
      if (hooks_.on_wipe) hooks_.on_wipe(victim);
    }
    WALLE_CHECK(sim_.start(victim).ok());
  });
}

void Nemesis::spare(NodeId node, bool spared) {
  if (spared) {
    spared_.insert(node);
  } else {
    spared_.erase(node);
  }
}

void Nemesis::tick() {
  if (!active_) return;
  if (sim_.now_ns() >= until_ns_) {
    heal();
    return;
  }
  Prng& prng = sim_.prng();
  Network& net = sim_.network();
  const int64_t now = sim_.now_ns();
  if (fires(plan_.crash_per_second)) crash_one();
  if (fires(plan_.pause_per_second)) {
    const NodeId node = random_node();
    if (sim_.is_up(node) && !sim_.host(node).paused() && !is_spared(node)) {
      WALLE_CHECK(sim_.pause(node, prng.uniform_between(kNanosPerMilli, plan_.pause_max_ns)).ok());
    }
  }
  if (fires(plan_.partition_per_second)) {
    const NodeId a = random_node();
    const NodeId b = random_node();
    if (a != b && !is_spared(a) && !is_spared(b)) {
      const bool one_way = prng.chance(plan_.one_way_fraction);
      if (one_way) {
        net.block(a, b);
      } else {
        net.partition(a, b);
      }
      sim_.scheduler().schedule_after(
          prng.uniform_between(kNanosPerMilli, plan_.partition_max_ns),
          [this, a, b, generation = generation_] {
            // A scenario that took these nodes over heals their links itself.
            if (generation == generation_ && !is_spared(a) && !is_spared(b)) {
              sim_.network().heal(a, b);
            }
          });
    }
  }
  if (fires(plan_.clog_per_second)) {
    net.clog(random_node(), now + prng.uniform_between(kNanosPerMilli, plan_.clog_max_ns));
  }
  if (fires(plan_.reset_per_second)) net.reset(random_node(), random_node());
  const NodeId disk_node = random_node();
  const bool may_corrupt = !hooks_.may_corrupt || hooks_.may_corrupt(disk_node);
  if (fires(plan_.bit_flip_per_second) && may_corrupt) sim_.disk(disk_node).flip_random_bit();
  if (fires(plan_.latent_error_per_second) && may_corrupt) {
    sim_.disk(disk_node).inject_latent_error();
  }
  sim_.scheduler().schedule_after(kTickNs, [this, generation = generation_] {
    if (generation == generation_) tick();
  });
}

void Nemesis::heal() {
  active_ = false;
  ++generation_;
  Network& net = sim_.network();
  net.heal_all();
  net.config().drop_probability = 0;
  net.config().duplicate_probability = 0;
  net.config().reorder_probability = 0;
  for (NodeId id = 0; id < sim_.node_count(); ++id) {
    DiskConfig& disk = sim_.disk(id).config();
    disk.read_error_probability = 0;
    disk.enospc_probability = 0;
    disk.slow_sync_probability = 0;
    if (!sim_.is_up(id)) WALLE_CHECK(sim_.start(id).ok());
    // Code-level faults end too: a spurious timeout on every claim must not decide liveness.
    sim_.host(id).buggify().set_active(false);
  }
}

}  // namespace walle::sim
