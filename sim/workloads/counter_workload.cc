#include "sim/workloads/counter_workload.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/fault_plan.h"
#include "sim/nemesis.h"
#include "sim/simulation.h"
#include "sim/workloads/counter_node.h"

namespace walle::sim::counter {
namespace {

// Checks every observation against what the nodes may legitimately claim. The first
// violation is kept; the run stops at the next step.
class CounterChecker final : public CounterObserver {
 public:
  CounterChecker(Simulation& sim, uint32_t nodes)
      : sim_(sim), durable_(nodes, 0), attempted_max_(nodes, 0), peer_seen_(nodes, std::vector<uint64_t>(nodes, 0)) {}

  void on_recovered(NodeId node, uint64_t value, bool corruption_detected) override {
    if (value > attempted_max_[node]) {
      fail(absl::StrCat("integrity: node ", node, " recovered ", value,
                        " but never wrote more than ", attempted_max_[node]));
    }
    if (value < durable_[node]) {
      // Excused only if the disk really was corrupted and the node noticed or the damage hit
      // the newest record (which nothing after it can vouch for).
      if (sim_.disk(node).corruptions() == 0) {
        fail(absl::StrCat("durability: node ", node, " recovered ", value, " after ",
                          durable_[node], " was synced, and its disk was never corrupted",
                          corruption_detected ? " (it reported corruption)" : ""));
      }
      ++excused_losses_;
    }
    durable_[node] = value;
  }
  void on_attempt(NodeId node, uint64_t value) override {
    attempted_max_[node] = std::max(attempted_max_[node], value);
  }
  void on_durable(NodeId node, uint64_t value) override {
    if (value <= durable_[node]) {
      fail(absl::StrCat("node ", node, " made ", value, " durable after ", durable_[node]));
    }
    durable_[node] = value;
  }
  void on_peer_value(NodeId node, NodeId peer, uint64_t value) override {
    if (value > attempted_max_[peer]) {
      fail(absl::StrCat("integrity: node ", node, " heard ", value, " from node ", peer,
                        ", which never wrote more than ", attempted_max_[peer]));
    }
    peer_seen_[node][peer] = std::max(peer_seen_[node][peer], value);
  }
  void on_wipe(NodeId node) { durable_[node] = 0; }

  const absl::Status& status() const { return status_; }
  void fail(std::string message) {
    if (status_.ok()) {
      status_ = absl::InternalError(
          absl::StrCat("at ", absl::StrFormat("%.6f", sim_.now_ns() / 1e9), "s: ", message));
    }
  }
  uint64_t durable(NodeId node) const { return durable_[node]; }
  uint64_t seen(NodeId node, NodeId peer) const { return peer_seen_[node][peer]; }

 private:
  Simulation& sim_;
  std::vector<uint64_t> durable_;
  std::vector<uint64_t> attempted_max_;
  std::vector<std::vector<uint64_t>> peer_seen_;
  uint64_t excused_losses_ = 0;
  absl::Status status_;
};

class CounterWorkload final : public Workload {
 public:
  std::string_view name() const override { return "counter"; }
  std::string_view description() const override {
    return "demo: durable per-node counters gossiped to peers, under swarm-chosen faults";
  }
  std::vector<std::string> parameters() const override {
    return {"nodes=0       cluster size, 1..9 (0: the swarm picks 3..5)",
            "fault_ms=2000 simulated time with faults on",
            "heal_ms=1500  simulated time after healing, for the liveness check",
            "tick_ms=20    interval between increments",
            "faults=1      0 turns every fault off",
            "bug_skip_sync=0  1 plants a bug (durable without fsync) the checker must catch"};
  }

  absl::StatusOr<RunResult> run(const RunOptions& options) override {
    ParamReader params(options.params);
    absl::StatusOr<int64_t> nodes = params.integer("nodes", 0, 0, 9);
    absl::StatusOr<int64_t> fault_ms = params.integer("fault_ms", 2000, 0, 3600 * 1000);
    absl::StatusOr<int64_t> heal_ms = params.integer("heal_ms", 1500, 200, 3600 * 1000);
    absl::StatusOr<int64_t> tick_ms = params.integer("tick_ms", 20, 1, 1000);
    absl::StatusOr<int64_t> faults = params.integer("faults", 1, 0, 1);
    absl::StatusOr<int64_t> bug_skip_sync = params.integer("bug_skip_sync", 0, 0, 1);
    for (const auto* p : {&nodes, &fault_ms, &heal_ms, &tick_ms, &faults, &bug_skip_sync}) {
      if (!p->ok()) return p->status();
    }
    if (absl::Status s = params.check_all_used(); !s.ok()) return s;

    // The swarm: this seed's cluster and fault mix.
    Prng swarm(Prng(options.seed).fork(0x5a));
    SimConfig config;
    config.seed = options.seed;
    config.node_count = *nodes > 0 ? static_cast<uint32_t>(*nodes)
                                   : static_cast<uint32_t>(swarm.uniform_between(3, 5));
    FaultPlan plan = *faults ? FaultPlan::swarm(swarm, config) : FaultPlan::none();

    std::unique_ptr<CounterChecker> checker;
    const CounterNode::Options node_options{.cluster_size = config.node_count,
                                            .tick_ns = *tick_ms * kNanosPerMilli,
                                            .bug_skip_sync = *bug_skip_sync == 1};
    auto sim = Simulation::create(config, [&checker, node_options](Env& env) {
      return std::make_unique<CounterNode>(env, *checker, node_options);
    });
    if (!sim.ok()) return sim.status();
    Simulation& s = **sim;
    s.trace().set_text_sink(options.trace_sink);
    checker = std::make_unique<CounterChecker>(s, config.node_count);

    Nemesis nemesis(s, plan, (config.node_count - 1) / 2 + 1,
                    Nemesis::Hooks{.on_wipe = [&checker](NodeId n) { checker->on_wipe(n); }, .may_corrupt = {}});
    s.start_all();
    const int64_t heal_at = *fault_ms * kNanosPerMilli;
    nemesis.start(heal_at);
    run_checked(s, *checker, heal_at);
    nemesis.heal();

    // Liveness: after healing, every counter advances and every peer hears of it.
    const int64_t end = heal_at + *heal_ms * kNanosPerMilli;
    const int64_t snapshot_at = end - std::min<int64_t>(500 * kNanosPerMilli, *heal_ms * kNanosPerMilli / 2);
    run_checked(s, *checker, snapshot_at);
    std::vector<uint64_t> snapshot;
    for (NodeId n = 0; n < config.node_count; ++n) snapshot.push_back(checker->durable(n));
    run_checked(s, *checker, end);
    for (NodeId n = 0; n < config.node_count && checker->status().ok(); ++n) {
      auto* node = s.node_as<CounterNode>(n);
      if (node == nullptr || !node->recovered()) {
        checker->fail(absl::StrCat("liveness: node ", n, " has not recovered ",
                                   *heal_ms, "ms after healing"));
        break;
      }
      for (NodeId peer = 0; peer < config.node_count; ++peer) {
        if (peer != n && checker->seen(peer, n) < snapshot[n]) {
          checker->fail(absl::StrCat("liveness: node ", peer, " saw node ", n, " at ",
                                     checker->seen(peer, n), ", below ", snapshot[n],
                                     " which was durable 500ms before the end"));
        }
      }
    }

    RunResult result;
    result.status = checker->status();
    result.digest = s.trace().digest();
    result.setup = absl::StrCat(describe_config(config), " faults: ", plan.describe());
    result.stats = s.stats();
    result.simulated_ns = s.now_ns();
    result.events = s.scheduler().events_run();
    return result;
  }

 private:
  // Runs until `until_ns` or the first violation.
  static void run_checked(Simulation& sim, const CounterChecker& checker, int64_t until_ns) {
    while (checker.status().ok() && sim.scheduler().pending() > 0 &&
           sim.scheduler().next_time_ns() <= until_ns) {
      sim.step();
    }
    if (checker.status().ok()) sim.run_until(until_ns);
  }
};

}  // namespace

std::unique_ptr<Workload> make_counter_workload() { return std::make_unique<CounterWorkload>(); }

}  // namespace walle::sim::counter
