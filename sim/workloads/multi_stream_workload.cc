#include "sim/workloads/multi_stream_workload.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/protocol/member_node.h"
#include "sim/fault_plan.h"
#include "sim/nemesis.h"
#include "sim/simulation.h"
#include "sim/workloads/protocol_checker.h"
#include "sim/workloads/protocol_checks.h"
#include "sim/workloads/protocol_client.h"

namespace walle::sim::protocol_workload {
namespace {

// One stream of the workload: its clients (nodes), its registry of them, its checker.
struct StreamUnderTest {
  std::string name;
  std::vector<NodeId> members;  // a subset of the cluster's: streams overlap
  std::vector<NodeId> clients;
  std::vector<ProtocolClient*> registry;  // by node id; only this stream's clients are set
  std::unique_ptr<Checker> checker;
  ClientConfig config;
  uint64_t acks_at_heal = 0;
};

class MultiStreamWorkload final : public Workload {
 public:
  std::string_view name() const override { return "streams"; }
  std::string_view description() const override {
    return "many streams on one cluster, on overlapping member sets, each with its own writers, "
           "reader and checkers, under swarm-chosen faults";
  }
  std::vector<std::string> parameters() const override {
    return {"streams=0      1..64 streams (0: the swarm picks 2..16)",
            "members=0      3 or 5 members in the cluster (0: the swarm picks)",
            "replicas=0     3 or 5 members per stream, at most members (0: the swarm picks; "
            "fewer than members: each stream on its own subset)",
            "clients=0      1..2 competing writers per stream (0: the swarm picks)",
            "entries=40     entries each client writes",
            "fault_ms=2000  simulated time with faults on",
            "heal_ms=4000   simulated time after healing, for the liveness check",
            "faults=1       0 turns every fault off",
            "corruption=1   0: no bit flips, latent or read errors on any member",
            kJournalParameter,
            "bug_ack_before_sync=0  1 plants a bug (members acknowledge puts before syncing) the "
            "checkers must catch"};
  }

  absl::StatusOr<RunResult> run(const RunOptions& options) override {
    ParamReader params(options.params);
    auto streams = params.integer("streams", 0, 0, 64);
    auto members = params.integer("members", 0, 0, 5);
    auto replicas = params.integer("replicas", 0, 0, 5);
    auto clients = params.integer("clients", 0, 0, 2);
    auto entries = params.integer("entries", 40, 0, 100000);
    auto fault_ms = params.integer("fault_ms", 2000, 0, 3600 * 1000);
    auto heal_ms = params.integer("heal_ms", 4000, 500, 3600 * 1000);
    auto faults = params.integer("faults", 1, 0, 1);
    auto corruption = params.integer("corruption", 1, 0, 1);
    auto bug_ack = params.integer("bug_ack_before_sync", 0, 0, 1);
    auto journal = params.integer("journal", -1, -1, 1);
    for (const auto* p : {&streams, &members, &replicas, &clients, &entries, &fault_ms, &heal_ms, &faults,
                          &corruption, &bug_ack, &journal}) {
      if (!p->ok()) return p->status();
    }
    if (absl::Status s = params.check_all_used(); !s.ok()) return s;
    if (*members != 0 && *members != 3 && *members != 5) {
      return absl::InvalidArgumentError("parameter members must be 0, 3 or 5");
    }
    if (*replicas != 0 && *replicas != 3 && *replicas != 5) {
      return absl::InvalidArgumentError("parameter replicas must be 0, 3 or 5");
    }
    if (*replicas != 0 && *members != 0 && *replicas > *members) {
      return absl::InvalidArgumentError("parameter replicas must be at most members");
    }

    Prng swarm(Prng(options.seed).fork(0x5717));
    const uint32_t member_count =
        *members ? static_cast<uint32_t>(*members) : (swarm.chance(0.6) ? 3u : 5u);
    const uint32_t stream_count =
        *streams ? static_cast<uint32_t>(*streams) : static_cast<uint32_t>(swarm.uniform_between(2, 16));
    const uint32_t replica_count =
        *replicas ? static_cast<uint32_t>(*replicas)
                  : (member_count == 5 && swarm.chance(0.5) ? 5u : 3u);
    if (replica_count > member_count) {
      return absl::InvalidArgumentError("parameter replicas must be at most members");
    }
    const uint32_t clients_per_stream =
        *clients ? static_cast<uint32_t>(*clients) : static_cast<uint32_t>(swarm.uniform_between(1, 2));

    SimConfig config;
    config.seed = options.seed;
    config.node_count = member_count + stream_count * clients_per_stream;
    FaultPlan plan = *faults ? FaultPlan::swarm(swarm, config) : FaultPlan::none();
    plan.wipe_probability = 0;  // a wiped member may only return through a topology change

    std::vector<NodeId> member_ids;
    for (NodeId m = 0; m < member_count; ++m) member_ids.push_back(m);
    std::vector<StreamUnderTest> under_test(stream_count);
    for (StreamUnderTest& st : under_test) {
      // replica_count of the members, drawn without replacement, in id order.
      std::vector<NodeId> pool = member_ids;
      while (st.members.size() < replica_count) {
        const size_t pick = swarm.uniform(pool.size());
        st.members.push_back(pool[pick]);
        pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      std::sort(st.members.begin(), st.members.end());
    }
    // The corruption budget holds per stream: a member may be corruptible only while every
    // stream it serves keeps a majority of members that are not.
    absl::btree_set<NodeId> corruptible;
    for (int tries = 0; *corruption == 1 && tries < 8; ++tries) {
      const NodeId candidate = static_cast<NodeId>(swarm.uniform(member_count));
      const bool fits = std::all_of(under_test.begin(), under_test.end(), [&](const StreamUnderTest& st) {
        if (std::find(st.members.begin(), st.members.end(), candidate) == st.members.end()) return true;
        size_t already = 0;
        for (NodeId m : st.members) already += corruptible.contains(m);
        return already + 1 <= (st.members.size() - 1) / 2;
      });
      if (fits) corruptible.insert(candidate);
    }
    if (corruptible.empty()) {
      plan.bit_flip_per_second = 0;
      plan.latent_error_per_second = 0;
    }
    const int64_t lease_ns = swarm.uniform_between(100, 400) * kNanosPerMilli;
    protocol::MemberOptions member_options;
    member_options.members = member_ids;
    member_options.replica.resolve_after_ns = 4 * lease_ns;
    member_options.store.segment_bytes = 64 << 10;  // rolls and cuts often, cheap to allocate
    member_options.store.max_entry_bytes = 4096;
    member_options.replica.bug_ack_before_sync = *bug_ack == 1;
    member_options.journal = journal_for(*journal, options.seed);
    for (uint32_t i = 0; i < stream_count; ++i) {
      StreamUnderTest& st = under_test[i];
      st.name = absl::StrCat("s", i);
      member_options.streams.push_back(st.name);
      if (st.members != member_ids) member_options.stream_members[st.name] = st.members;
      for (uint32_t c = 0; c < clients_per_stream; ++c) {
        st.clients.push_back(member_count + i * clients_per_stream + c);
      }
      st.registry.assign(config.node_count, nullptr);
      st.config = ClientConfig{st.members,
                               lease_ns,
                               static_cast<uint64_t>(*entries),
                               static_cast<uint64_t>(swarm.uniform_between(0, 1024)),
                               clients_per_stream > 1 && swarm.chance(0.5) ? 0.005 : 0.0,
                               false,
                               false,
                               st.clients.front(),
                               nullptr,
                               32,
                               64 << 10,
                               st.name};
    }
    // Node ids to streams, for the factory.
    std::vector<StreamUnderTest*> stream_of(config.node_count, nullptr);
    for (StreamUnderTest& st : under_test) {
      for (NodeId c : st.clients) stream_of[c] = &st;
    }

    auto sim = Simulation::create(config, [&](Env& env) -> std::unique_ptr<Node> {
      if (env.self < member_count) return std::make_unique<protocol::MemberNode>(env, member_options);
      StreamUnderTest& st = *stream_of[env.self];
      return std::make_unique<ProtocolClient>(env, st.config, *st.checker, st.registry);
    });
    if (!sim.ok()) return sim.status();
    Simulation& s = **sim;
    s.trace().set_text_sink(options.trace_sink);
    std::vector<Checker*> checkers;
    for (StreamUnderTest& st : under_test) {
      st.checker = std::make_unique<Checker>(s, corruptible, /*judge_leases=*/true, st.name);
      st.checker->watch(&st.registry, st.members);
      checkers.push_back(st.checker.get());
    }
    for (NodeId n = 0; n < config.node_count; ++n) {
      if (!corruptible.contains(n)) s.disk(n).config().read_error_probability = 0;
    }
    s.set_before_crash([&checkers](NodeId node) {
      for (Checker* c : checkers) c->before_crash(node);
    });
    // At most a minority of the smallest member set down at once.
    Nemesis nemesis(s, plan, (replica_count - 1) / 2,
                    Nemesis::Hooks{.on_wipe = {}, .may_corrupt = [&corruptible](NodeId n) {
                                     return corruptible.contains(n);
                                   }});

    s.start_all();
    const int64_t heal_at = *fault_ms * kNanosPerMilli;
    nemesis.start(heal_at);
    run_checked(s, checkers, heal_at);
    nemesis.heal();
    for (StreamUnderTest& st : under_test) st.acks_at_heal = st.checker->acks();
    run_checked(s, checkers, heal_at + *heal_ms * kNanosPerMilli);
    // Liveness, then the members' logs, stream by stream; only if every stream's checks held
    // so far (a failure stops the run for all of them, so the others never had their heal).
    const bool all_held = std::all_of(under_test.begin(), under_test.end(), [](const StreamUnderTest& st) {
      return st.checker->status().ok();
    });
    for (StreamUnderTest& st : under_test) {
      if (!all_held) break;
      Checker& checker = *st.checker;
      if (checker.status().ok() && st.config.entries > 0 && checker.acks() == st.acks_at_heal &&
          !all_written(st.registry, st.config.entries)) {
        checker.fail(absl::StrCat("liveness: nothing was committed in ", *heal_ms,
                                  "ms after healing"));
      }
      if (checker.status().ok()) check_members(s, checker, st.registry);
    }

    RunResult result;
    for (const StreamUnderTest& st : under_test) {
      if (!st.checker->status().ok()) {
        result.status = absl::Status(st.checker->status().code(),
                                     absl::StrCat("stream ", st.name, ": ", st.checker->status().message()));
        break;
      }
    }
    result.digest = s.trace().digest();
    result.setup = absl::StrCat(describe_config(config), " members=", member_count,
                                " streams=", stream_count, " replicas=", replica_count, " clients_per_stream=", clients_per_stream,
                                " lease_ms=", lease_ns / kNanosPerMilli, " faults: ", plan.describe(),
                                corruptible.empty() ? "" : " corruptible=", absl::StrJoin(corruptible, ","));
    result.stats = s.stats();
    result.simulated_ns = s.now_ns();
    result.events = s.scheduler().events_run();
    return result;
  }
};

}  // namespace

std::unique_ptr<Workload> make_multi_stream_workload() {
  return std::make_unique<MultiStreamWorkload>();
}

}  // namespace walle::sim::protocol_workload
