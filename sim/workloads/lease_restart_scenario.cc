#include "sim/workloads/lease_restart_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {

namespace {
// How long a torn restart waits for a member to write before crashing it anyway.
constexpr int64_t kWriteDeadlineNs = 300 * kNanosPerMilli;
}  // namespace

LeaseRestartScenario::LeaseRestartScenario(Simulation& sim, std::vector<NodeId> members,
                                           ScenarioClients clients, bool tear)
    : sim_(sim), members_(std::move(members)), clients_(std::move(clients)), tear_(tear) {
  WALLE_CHECK(clients_.ids.size() >= 2);  // a writer, and another to take over
}

template <class F>
void LeaseRestartScenario::after(int64_t delay_ns, F step) {
  sim_.scheduler().schedule_after(delay_ns, [this, step, generation = generation_] {
    if (generation == generation_) step();
  });
}

void LeaseRestartScenario::cancel() {
  ++generation_;
  for (NodeId m : to_crash_) sim_.disk(m).set_write_observer(nullptr);
  to_crash_.clear();
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
  restarted_.clear();
  while (restarted_.size() < members_.size() / 2 + 1) {
    const size_t pick = prng.uniform(left.size());
    restarted_.push_back(left[pick]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  std::vector<NodeId> others;
  for (NodeId c : clients_.ids) {
    if (c != writer) others.push_back(c);
  }
  taker_ = others[prng.uniform(others.size())];
  to_crash_ = restarted_;
  for (NodeId m : restarted_) crash_member(m);
}

void LeaseRestartScenario::crash_member(NodeId member) {
  if (!tear_ || !sim_.is_up(member)) return crash_now(member, false);
  // Right after a write lands and before its sync: the crash tears what it wrote.
  // (crash_now removes the observer: not from inside it, which would destroy the running
  // closure.)
  // Records of the live log spanning sectors: a crash keeps some of those sectors and loses
  // others (a torn record, the uncertain case), rather than all or none.
  SimDisk& disk = sim_.disk(member);
  const uint64_t sector = disk.config().sector_size_bytes;
  disk.set_write_observer([this, member, sector](std::string_view name, uint64_t bytes) {
    if (bytes < 2 * sector || name.find(".live.") == std::string_view::npos) return;
    after(0, [this, member] { crash_now(member, true); });
  });
  after(kWriteDeadlineNs, [this, member] { crash_now(member, false); });
}

void LeaseRestartScenario::crash_now(NodeId member, bool torn) {
  auto it = std::find(to_crash_.begin(), to_crash_.end(), member);
  if (it == to_crash_.end()) return;  // crashed already (at its write, or at its deadline)
  to_crash_.erase(it);
  sim_.disk(member).set_write_observer(nullptr);
  if (sim_.is_up(member)) {
    SimDisk& disk = sim_.disk(member);
    if (torn) ++sim_.stats().torn_restarts;
    WALLE_CHECK(sim_.crash(member, torn ? CrashMode::kTorn : disk.random_crash_mode()).ok());
  }
  if (!to_crash_.empty()) return;
  after(sim_.prng().uniform_between(1, 5) * kNanosPerMilli, [this] { restart_then_claim(); });
}

void LeaseRestartScenario::restart_then_claim() {
  for (NodeId m : restarted_) {
    if (!sim_.is_up(m)) WALLE_CHECK(sim_.start(m).ok());
  }
  // As soon as they serve again: well within the old writer's lease.
  after(sim_.prng().uniform_between(2, 10) * kNanosPerMilli, [this] {
    if (sim_.is_up(taker_)) clients_.claim_now(taker_, /*preempt=*/true);
  });
}

}  // namespace walle::sim::protocol_workload
