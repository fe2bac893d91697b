#include "sim/workloads/split_brain_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/nemesis.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {

SplitBrainScenario::SplitBrainScenario(Simulation& sim, Nemesis& nemesis,
                                       std::vector<NodeId> members, Clients clients,
                                       int64_t lease_ns)
    : sim_(sim),
      nemesis_(nemesis),
      members_(std::move(members)), clients_(std::move(clients)), lease_ns_(lease_ns) {
  WALLE_CHECK(clients_.ids.size() >= 2);  // a writer, and another to take over
  WALLE_CHECK(members_.size() >= 3);
}

template <class F>
void SplitBrainScenario::after(int64_t delay_ns, F step) {
  sim_.scheduler().schedule_after(delay_ns, [this, step, generation = generation_] {
    if (generation == generation_) step();
  });
}

void SplitBrainScenario::start(int64_t at_ns) {
  after(std::max<int64_t>(0, at_ns - sim_.now_ns()), [this] {
    if (!sim_.prng().chance(0.5)) return find_writer(2000);
    // As the next claim succeeds: the members other than A then hold no entry of X beyond
    // what A knows committed, so a later claim with A commits nothing new and must repair
    // A's diverging tail itself.
    *clients_.writer_started = [this, generation = generation_](NodeId c) {
      if (generation != generation_ || !clients_.has_work(c)) return;
      *clients_.writer_started = nullptr;
      old_writer_ = c;
      cut_off_writer_with_one_member();
    };
  });
}

// A writer in the middle of its work: cut off now, it keeps writing to the one member it
// still reaches. (A healthy client writes its entries in a few ms: poll finely.)
void SplitBrainScenario::find_writer(int polls_left) {
  std::vector<NodeId> writing;
  for (NodeId c : clients_.ids) {
    if (sim_.is_up(c) && clients_.writing(c) && clients_.has_work(c)) writing.push_back(c);
  }
  if (writing.empty()) {
    if (polls_left > 0) after(kNanosPerMilli, [this, polls_left] { find_writer(polls_left - 1); });
    return;  // nobody writes (all done, or no claim got through): no split brain this seed
  }
  old_writer_ = writing[sim_.prng().uniform(writing.size())];
  cut_off_writer_with_one_member();
}

// Cuts `node` off from every node but those in `keep`.
void SplitBrainScenario::cut_off(NodeId node, const std::vector<NodeId>& keep) {
  for (NodeId n = 0; n < sim_.node_count(); ++n) {
    if (n != node && std::find(keep.begin(), keep.end(), n) == keep.end()) {
      sim_.network().partition(node, n);
    }
  }
}

// The nemesis's partitions and crashes would undo the choreography.
void SplitBrainScenario::spare_cast(bool spared) {
  for (NodeId m : members_) nemesis_.spare(m, spared);
  nemesis_.spare(old_writer_, spared);
  nemesis_.spare(new_writer_, spared);
}

void SplitBrainScenario::cut_off_writer_with_one_member() {
  Prng& prng = sim_.prng();
  ++sim_.stats().split_brains;
  stale_member_ = members_[prng.uniform(members_.size())];
  cut_off(old_writer_, {stale_member_});
  cut_off(stale_member_, {old_writer_});
  std::vector<NodeId> others;
  for (NodeId c : clients_.ids) {
    if (c != old_writer_ && sim_.is_up(c) && clients_.has_work(c)) others.push_back(c);
  }
  // Without a client to take over, a restart of any other makes one (it starts afresh).
  new_writer_ = others.empty() ? (old_writer_ == clients_.ids[0] ? clients_.ids[1] : clients_.ids[0])
                               : others[prng.uniform(others.size())];
  spare_cast(true);
  // Preempting, the claim runs into X's live lease and the members must wait it out; else it
  // claims once the lease has run out on the members it reaches.
  const bool preempt = prng.chance(0.5);
  const int64_t delay = preempt ? prng.uniform_between(0, lease_ns_)
                                : lease_ns_ + prng.uniform_between(1, 50) * kNanosPerMilli;
  if (others.empty()) {
    if (sim_.is_up(new_writer_)) WALLE_CHECK(sim_.crash(new_writer_, CrashMode::kLoseAll).ok());
    WALLE_CHECK(sim_.start(new_writer_).ok());
  }
  after(delay, [this, preempt] {
    if (sim_.is_up(new_writer_)) clients_.claim_now(new_writer_, preempt);
    wait_for_new_writer(2000);
  });
}

void SplitBrainScenario::wait_for_new_writer(int polls_left) {
  if (!sim_.is_up(new_writer_) || polls_left == 0) return heal_members();
  if (!clients_.writing(new_writer_)) {
    after(kNanosPerMilli, [this, polls_left] { wait_for_new_writer(polls_left - 1); });
    return;
  }
  // At once, its first puts are on their way with the claim's tail as the commit point: the
  // members keep its entries unannounced. A little later the commit point moved on to some.
  const int64_t delay =
      sim_.prng().chance(0.5) ? 0 : sim_.prng().uniform_between(1, 40) * kNanosPerMilli;
  after(delay, [this] { crash_new_writer(); });
}

void SplitBrainScenario::crash_new_writer() {
  if (sim_.is_up(new_writer_)) {
    WALLE_CHECK(sim_.crash(new_writer_, sim_.disk(new_writer_).random_crash_mode()).ok());
  }
  // A returns; X stays cut off. Every majority the members can form now includes A.
  for (NodeId n = 0; n < sim_.node_count(); ++n) {
    if (n != stale_member_ && n != old_writer_) sim_.network().heal(stale_member_, n);
  }
  sim_.network().partition(stale_member_, old_writer_);
  std::vector<NodeId> others;
  for (NodeId m : members_) {
    if (m != stale_member_) others.push_back(m);
  }
  Prng& prng = sim_.prng();
  const size_t keep = members_.size() / 2;  // with A: a bare majority
  while (others.size() > keep) {
    const size_t pick = prng.uniform(others.size());
    sim_.network().isolate(others[pick]);
    others.erase(others.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  after(prng.uniform_between(1, 20) * kNanosPerMilli, [this] {
    if (!sim_.is_up(new_writer_)) WALLE_CHECK(sim_.start(new_writer_).ok());
    after(lease_ns_ + sim_.prng().uniform_between(1, 30) * kNanosPerMilli,
          [this] { claim_with_stale_member(); });
  });
}

void SplitBrainScenario::claim_with_stale_member() {
  if (sim_.is_up(new_writer_)) clients_.claim_now(new_writer_, sim_.prng().chance(0.5));
  after(sim_.prng().uniform_between(800, 2000) * kNanosPerMilli, [this] { heal_members(); });
}

void SplitBrainScenario::heal_members() {
  spare_cast(false);
  for (NodeId m : members_) {
    for (NodeId n = 0; n < sim_.node_count(); ++n) {
      if (n != m) sim_.network().heal(m, n);
    }
  }
  for (NodeId c : {old_writer_, new_writer_}) {
    for (NodeId n = 0; n < sim_.node_count(); ++n) {
      if (n != c) sim_.network().heal(c, n);
    }
  }
}

}  // namespace walle::sim::protocol_workload
