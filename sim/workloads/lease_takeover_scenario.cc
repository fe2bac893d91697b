#include "sim/workloads/lease_takeover_scenario.h"

#include <algorithm>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {

namespace {
// How long a torn restart waits for a member to write before crashing it anyway.
constexpr int64_t kWriteDeadlineNs = 300 * kNanosPerMilli;
}  // namespace

LeaseTakeoverScenario::LeaseTakeoverScenario(Simulation& sim, std::vector<NodeId> members,
                                             ScenarioClients clients, Kind kind, int64_t lease_ns)
    : sim_(sim),
      members_(std::move(members)),
      clients_(std::move(clients)),
      kind_(kind),
      lease_ns_(lease_ns) {
  WALLE_CHECK(clients_.ids.size() >= 2);  // a writer, and another to take over
  WALLE_CHECK(lease_ns_ > 0);
}

const char* LeaseTakeoverScenario::kind_name(Kind kind) {
  switch (kind) {
    case Kind::kRestart:
      return "restart";
    case Kind::kTornRestart:
      return "torn_restart";
    case Kind::kClogWriter:
      return "clog_writer";
  }
  return "?";
}

template <class F>
void LeaseTakeoverScenario::after(int64_t delay_ns, F step) {
  sim_.scheduler().schedule_after(delay_ns, [this, step, generation = generation_] {
    if (generation == generation_) step();
  });
}

void LeaseTakeoverScenario::cancel() {
  ++generation_;
  for (NodeId m : to_crash_) sim_.disk(m).set_write_observer(nullptr);
  to_crash_.clear();
}

void LeaseTakeoverScenario::start(int64_t at_ns) {
  after(std::max<int64_t>(0, at_ns - sim_.now_ns()), [this] { find_writer(2000); });
}

void LeaseTakeoverScenario::find_writer(int polls_left) {
  for (NodeId c : clients_.ids) {
    if (sim_.is_up(c) && clients_.writing(c) && clients_.has_work(c)) return strike(c);
  }
  if (polls_left > 0) after(kNanosPerMilli, [this, polls_left] { find_writer(polls_left - 1); });
}

void LeaseTakeoverScenario::strike(NodeId writer) {
  Prng& prng = sim_.prng();
  ++sim_.stats().lease_takeovers;
  std::vector<NodeId> others;
  for (NodeId c : clients_.ids) {
    if (c != writer) others.push_back(c);
  }
  taker_ = others[prng.uniform(others.size())];
  if (kind_ != Kind::kClogWriter) return restart_majority();
  // Held past its lease, so the members' leases run out while the held replies wait.
  ++sim_.stats().clogged_writers;
  const int64_t held_ns = lease_ns_ + prng.uniform_between(10, 200) * kNanosPerMilli;
  sim_.network().clog(writer, sim_.now_ns() + held_ns);
  claim_soon(1, 20);
}

void LeaseTakeoverScenario::restart_majority() {
  Prng& prng = sim_.prng();
  std::vector<NodeId> left = members_;
  restarted_.clear();
  while (restarted_.size() < members_.size() / 2 + 1) {
    const size_t pick = prng.uniform(left.size());
    restarted_.push_back(left[pick]);
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  to_crash_ = restarted_;
  for (NodeId m : restarted_) crash_member(m);
}

void LeaseTakeoverScenario::crash_member(NodeId member) {
  if (kind_ != Kind::kTornRestart || !sim_.is_up(member)) return crash_now(member, false);
  // Records of the live log spanning sectors: a crash keeps some of those sectors and loses
  // others (a torn record, the uncertain case), rather than all or none. (crash_now removes
  // the observer: not from inside it, which would destroy the running closure.)
  SimDisk& disk = sim_.disk(member);
  const uint64_t sector = disk.config().sector_size_bytes;
  disk.set_write_observer([this, member, sector](std::string_view name, uint64_t bytes) {
    if (bytes < 2 * sector || name.find(".live.") == std::string_view::npos) return;
    after(0, [this, member] { crash_now(member, true); });
  });
  after(kWriteDeadlineNs, [this, member] { crash_now(member, false); });
}

void LeaseTakeoverScenario::crash_now(NodeId member, bool torn) {
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

void LeaseTakeoverScenario::restart_then_claim() {
  for (NodeId m : restarted_) {
    if (!sim_.is_up(m)) WALLE_CHECK(sim_.start(m).ok());
  }
  claim_soon(2, 10);  // as soon as they serve again: well within the old writer's lease
}

void LeaseTakeoverScenario::claim_soon(int64_t min_ms, int64_t max_ms) {
  after(sim_.prng().uniform_between(min_ms, max_ms) * kNanosPerMilli, [this] {
    if (sim_.is_up(taker_)) clients_.claim_now(taker_, /*preempt=*/true);
  });
}

}  // namespace walle::sim::protocol_workload
