#include "sim/workloads/protocol_workload.h"

#include <optional>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/protocol/member_node.h"
#include "sim/fault_plan.h"
#include "sim/nemesis.h"
#include "sim/power_loss_scenario.h"
#include "sim/tail_rot_scenario.h"
#include "sim/simulation.h"
#include "sim/workloads/protocol_checker.h"
#include "sim/workloads/protocol_checks.h"
#include "sim/workloads/protocol_client.h"
#include "sim/workloads/lease_takeover_scenario.h"
#include "sim/workloads/split_brain_scenario.h"

namespace walle::sim::protocol_workload {
namespace {

// Limits a seed may tighten (BUGGIFY on): each is legal, and each forces a rarer path (a full
// ordering queue, one entry in flight, a backfill or repair of a few entries per round trip).
struct Knobs {
  size_t max_queued_puts = 4096;
  uint64_t max_in_flight_entries = 32;
  uint64_t chunk_bytes = 64 << 10;  // claim repairs and backfill reads
  uint64_t backfill_chunk_entries = 256;
  uint64_t max_uncommitted_entries = 4096;

  static Knobs draw(Prng prng) {
    Knobs k;
    auto pick = [&prng](auto usual, auto tight, auto tightest) {
      const uint64_t r = prng.uniform(4);
      return r < 2 ? usual : r == 2 ? tight : tightest;
    };
    k.max_queued_puts = pick(size_t{4096}, size_t{16}, size_t{1});
    k.max_in_flight_entries = pick(uint64_t{32}, uint64_t{4}, uint64_t{1});
    k.chunk_bytes = pick(uint64_t{64} << 10, uint64_t{4096}, uint64_t{1});
    k.backfill_chunk_entries = pick(uint64_t{256}, uint64_t{8}, uint64_t{1});
    k.max_uncommitted_entries = pick(uint64_t{4096}, uint64_t{64}, uint64_t{40});
    return k;
  }
  std::string describe() const {
    return absl::StrCat("queue=", max_queued_puts, " in_flight=", max_in_flight_entries,
                        " chunk_bytes=", chunk_bytes, " backfill_chunk=", backfill_chunk_entries,
                        " max_uncommitted=", max_uncommitted_entries);
  }
};

class ProtocolWorkload final : public Workload {
 public:
  std::string_view name() const override { return "protocol"; }
  std::string_view description() const override {
    return "the replication protocol: members, competing writers, swarm-chosen faults";
  }
  std::vector<std::string> parameters() const override {
    return {"members=0      3 or 5 (0: the swarm picks)",
            "clients=0      1..3 competing writers (0: the swarm picks)",
            "entries=100    entries each client writes",
            "fault_ms=2000  simulated time with faults on",
            "heal_ms=4000   simulated time after healing, for the liveness check",
            "faults=1       0 turns every fault off",
            "crashes_per_10s=-1  process crashes per 10 simulated s (-1: the swarm picks)",
            "corruption=1   0: no bit flips, latent or read errors on any member",
            "tail_rot=-1    1: rot a member's newest records, crash it, claim with laggards "
            "(TailRotScenario; -1: the swarm picks, 0: never)",
            "power_loss=-1  1: every node crashes at once, tearing unsynced tails "
            "(PowerLossScenario; -1: the swarm picks, 0: never)",
            "split_brain=-1 1: cut the writer off with one member, another client takes over "
            "and crashes, claim with the stale member (SplitBrainScenario; -1: the swarm "
            "picks, 0: never)",
            "takeover=-1   while a client writes, take its lease's props away and let another "
            "client preempt (LeaseTakeoverScenario): 1 restart a majority of members, 2 the "
            "same crashing each right after a write (torn tails), 3 hold the writer's messages "
            "past its lease; -1: the swarm picks, 0: never",
            "wild_clocks=-1 1: clocks drift 15-40%, past the lease bound (a writer trusting 3/4 of "
            "its lease survives up to 1/7): lease checks are off, durability, agreement and "
            "exclusivity still hold (-1: the swarm picks, 5% of seeds with faults; 0: never)",
            kJournalParameter,
            "bug_ack_before_sync=0, bug_accept_older_writer=0, bug_commit_without_majority=0, "
            "bug_lease_from_reply=0"};
  }

  absl::StatusOr<RunResult> run(const RunOptions& options) override {
    ParamReader params(options.params);
    auto members = params.integer("members", 0, 0, 5);
    auto clients = params.integer("clients", 0, 0, 3);
    auto entries = params.integer("entries", 100, 0, 1000000);
    auto fault_ms = params.integer("fault_ms", 2000, 0, 3600 * 1000);
    auto heal_ms = params.integer("heal_ms", 4000, 500, 3600 * 1000);
    auto faults = params.integer("faults", 1, 0, 1);
    auto crashes = params.integer("crashes_per_10s", -1, -1, 1000);
    auto corruption = params.integer("corruption", 1, 0, 1);
    auto tail_rot = params.integer("tail_rot", -1, -1, 1);
    auto power_loss = params.integer("power_loss", -1, -1, 1);
    auto split_brain = params.integer("split_brain", -1, -1, 1);
    auto takeover = params.integer("takeover", -1, -1, 3);
    auto bug_ack = params.integer("bug_ack_before_sync", 0, 0, 1);
    auto bug_older = params.integer("bug_accept_older_writer", 0, 0, 1);
    auto bug_majority = params.integer("bug_commit_without_majority", 0, 0, 1);
    auto bug_lease = params.integer("bug_lease_from_reply", 0, 0, 1);
    auto wild_clocks = params.integer("wild_clocks", -1, -1, 1);
    auto byte_streams = params.integer("byte_streams", 0, 0, 1);
    auto journal = params.integer("journal", -1, -1, 1);
    for (const auto* p : {&members, &clients, &entries, &fault_ms, &heal_ms, &faults, &crashes,
                          &corruption, &tail_rot, &power_loss, &split_brain, &takeover, &bug_ack, &bug_older, &bug_majority, &bug_lease, &wild_clocks, &byte_streams, &journal}) {
      if (!p->ok()) return p->status();
    }
    if (absl::Status s = params.check_all_used(); !s.ok()) return s;
    if (*members != 0 && *members != 3 && *members != 5) {
      return absl::InvalidArgumentError("parameter members must be 0, 3 or 5");
    }

    Prng swarm(Prng(options.seed).fork(0x9e));
    const uint32_t member_count =
        *members ? static_cast<uint32_t>(*members) : (swarm.chance(0.7) ? 3u : 5u);
    const uint32_t client_count = *clients ? static_cast<uint32_t>(*clients)
                                           : static_cast<uint32_t>(swarm.uniform_between(1, 3));
    SimConfig config;
    config.seed = options.seed;
    config.node_count = member_count + client_count;
    FaultPlan plan = *faults ? FaultPlan::swarm(swarm, config) : FaultPlan::none();
    if (*byte_streams == 1) {
      // The production framing and handshake over cut, in-order byte streams; now and then
      // a write arrives damaged (the frame checksum must refuse it).
      config.network.byte_streams = true;
      config.network.corrupt_write_probability = *faults ? 0.0005 : 0;
    }
    if (*crashes >= 0) plan.crash_per_second = *crashes / 10.0;
    // Clocks past the lease bound, from their own stream (the other draws stay as they were).
    Prng clocks(Prng(options.seed).fork(0xc10c));
    const bool clocks_wild =
        *wild_clocks == 1 || (*wild_clocks == -1 && *faults == 1 && clocks.chance(0.05));
    if (clocks_wild) config.max_clock_drift_ppm = clocks.uniform_between(150000, 400000);
    // The corruption budget (TigerBeetle's fault atlas, simplified): bit flips, latent sector
    // errors and read errors hit only a minority of the members, so no entry is ever damaged
    // on a majority; beyond that no system can keep acknowledged data.
    absl::btree_set<NodeId> corruptible;
    while (*corruption == 1 && corruptible.size() < (member_count - 1) / 2) {
      corruptible.insert(static_cast<NodeId>(swarm.uniform(member_count)));
    }
    if (corruptible.empty()) {
      plan.bit_flip_per_second = 0;
      plan.latent_error_per_second = 0;
    }
    // A wiped member forgot its promises (the writers it refused, what it acknowledged): it
    // may only come back as a new member, through a topology change (not built yet).
    plan.wipe_probability = 0;

    std::vector<NodeId> member_ids;
    for (NodeId m = 0; m < member_count; ++m) member_ids.push_back(m);
    const int64_t lease_ns = swarm.uniform_between(100, 400) * kNanosPerMilli;
    protocol::MemberOptions member_options{{kStream}, {}, {}, member_ids};
    member_options.replica.resolve_after_ns = 4 * lease_ns;
    // Small segments: rolls and cuts happen often, and preallocating a segment (zeros the
    // size of a segment, at every cut too) stays cheap in the simulator.
    member_options.store.segment_bytes = 64 << 10;
    member_options.store.max_entry_bytes = 4096;
    // Knobs, like FoundationDB's: with BUGGIFY on, each seed draws tight limits of its own
    // (from their own stream, so the swarm's other choices stay as they were).
    Knobs knobs;
    if (config.buggify) knobs = Knobs::draw(Prng(options.seed).fork(0xb0b));
    member_options.replica.max_queued_puts = knobs.max_queued_puts;
    member_options.replica.backfill.chunk_entries = knobs.backfill_chunk_entries;
    member_options.replica.backfill.chunk_bytes = knobs.chunk_bytes;
    member_options.store.max_uncommitted_entries = knobs.max_uncommitted_entries;
    member_options.replica.bug_ack_before_sync = *bug_ack == 1;
    member_options.journal = journal_for(*journal, options.seed);
    member_options.replica.bug_accept_older_writer = *bug_older == 1;
    std::function<void(NodeId)> writer_started;  // a scenario's cue, see ClientConfig
    const ClientConfig client_config{member_ids,
                                     lease_ns,
                                     static_cast<uint64_t>(*entries),
                                     static_cast<uint64_t>(swarm.uniform_between(0, 2048)),
                                     swarm.chance(0.5) ? 0.005 : 0.0,
                                     *bug_majority == 1,
                                     *bug_lease == 1,
                                     static_cast<NodeId>(member_count),
                                     &writer_started,
                                     knobs.max_in_flight_entries,
                                     knobs.chunk_bytes,
                                     kStream};

    std::unique_ptr<Checker> checker;
    std::vector<ProtocolClient*> registry(config.node_count, nullptr);
    auto sim = Simulation::create(config, [&](Env& env) -> std::unique_ptr<Node> {
      if (env.self < member_count) {
        return std::make_unique<protocol::MemberNode>(env, member_options);
      }
      return std::make_unique<ProtocolClient>(env, client_config, *checker, registry);
    });
    if (!sim.ok()) return sim.status();
    Simulation& s = **sim;
    s.trace().set_text_sink(options.trace_sink);
    checker = std::make_unique<Checker>(s, corruptible, /*judge_leases=*/!clocks_wild);
    checker->watch(&registry, member_ids);
    for (NodeId n = 0; n < config.node_count; ++n) {
      if (!corruptible.contains(n)) s.disk(n).config().read_error_probability = 0;
    }
    s.set_before_crash([&checker](NodeId node) { checker->before_crash(node); });

    Nemesis nemesis(s, plan, (member_count - 1) / 2,
                    Nemesis::Hooks{.on_wipe = {}, .may_corrupt = [&corruptible](NodeId n) {
                                     return corruptible.contains(n);
                                   }});
    // Targeted scenarios draw from their own stream, so adding one leaves the swarm's other
    // choices (and every seed's setup) as they were.
    Prng scenarios(Prng(options.seed).fork(0x7a11));
    std::optional<TailRotScenario> rot_scenario;
    int64_t rot_at_ns = 0;
    const bool want_rot = *tail_rot == 1 || (*tail_rot == -1 && *faults == 1 && scenarios.chance(0.3));
    if (want_rot && !corruptible.empty() && *fault_ms >= 500) {
      const NodeId victim = *std::next(corruptible.begin(),
                                       static_cast<std::ptrdiff_t>(scenarios.uniform(corruptible.size())));
      rot_scenario.emplace(s, member_ids, victim);
      rot_at_ns = scenarios.uniform_between(100, std::max<int64_t>(100, *fault_ms - 1500)) *
                  kNanosPerMilli;
      rot_scenario->start(rot_at_ns);
    }
    std::optional<PowerLossScenario> power_scenario;
    std::vector<int64_t> power_at_ms;
    const bool want_power_loss =
        *power_loss == 1 || (*power_loss == -1 && *faults == 1 && scenarios.chance(0.2));
    if (want_power_loss && *fault_ms >= 200) {
      power_scenario.emplace(s);
      for (int64_t n = scenarios.uniform_between(1, 3); n > 0; --n) {
        power_at_ms.push_back(scenarios.uniform_between(100, std::max<int64_t>(100, *fault_ms - 100)));
        power_scenario->start(power_at_ms.back() * kNanosPerMilli);
      }
    }
    std::vector<NodeId> client_ids;
    for (NodeId c = member_count; c < config.node_count; ++c) client_ids.push_back(c);
    const ScenarioClients hooks{
          client_ids,
          [&registry](NodeId c) {
            return registry[c] != nullptr && registry[c]->writer() != nullptr &&
                   !registry[c]->writer()->closed();
          },
          [&registry, &client_config](NodeId c) {
            return registry[c] != nullptr && registry[c]->written() < client_config.entries;
          },
          [&registry](NodeId c, bool preempt) {
            if (registry[c] != nullptr) registry[c]->claim_now(preempt);
          },
          &writer_started};
    std::optional<SplitBrainScenario> split_scenario;
    int64_t split_at_ms = 0;
    const bool want_split =
        *split_brain == 1 || (*split_brain == -1 && *faults == 1 && scenarios.chance(0.25));
    if (want_split && client_count >= 2 && *fault_ms >= 1500) {
      split_scenario.emplace(s, nemesis, member_ids, hooks, lease_ns);
      split_at_ms = scenarios.uniform_between(100, std::max<int64_t>(100, *fault_ms - 1500));
      split_scenario->start(split_at_ms * kNanosPerMilli);
    }
    std::optional<LeaseTakeoverScenario> lease_scenario;
    int64_t lease_at_ms = 0;
    const bool want_takeover =
        *takeover >= 1 || (*takeover == -1 && *faults == 1 && scenarios.chance(0.25));
    if (want_takeover && client_count >= 2 && *fault_ms >= 500) {
      const auto kind = static_cast<LeaseTakeoverScenario::Kind>(
          *takeover >= 1 ? *takeover : scenarios.uniform_between(1, 3));
      lease_scenario.emplace(s, member_ids, hooks, kind, lease_ns);
      lease_at_ms = scenarios.uniform_between(50, std::max<int64_t>(50, *fault_ms - 400));
      lease_scenario->start(lease_at_ms * kNanosPerMilli);
    }
    s.start_all();
    const int64_t heal_at = *fault_ms * kNanosPerMilli;
    nemesis.start(heal_at);
    run_checked(s, {checker.get()}, heal_at);
    if (rot_scenario) rot_scenario->cancel();
    if (power_scenario) power_scenario->cancel();
    if (split_scenario) split_scenario->cancel();
    if (lease_scenario) lease_scenario->cancel();
    nemesis.heal();
    const uint64_t acks_at_heal = checker->acks();
    // Liveness: once healed, writing resumes (unless every client already wrote all).
    const int64_t end = heal_at + *heal_ms * kNanosPerMilli;
    run_checked(s, {checker.get()}, end);
    if (checker->status().ok() && client_config.entries > 0 && checker->acks() == acks_at_heal &&
        !all_written(registry, client_config.entries)) {
      checker->fail(
          absl::StrCat("liveness: nothing was committed in ", *heal_ms, "ms after healing"));
    }
    if (checker->status().ok()) check_members(s, *checker, registry);

    RunResult result;
    result.status = checker->status();
    result.digest = s.trace().digest();
    result.setup =
        absl::StrCat(describe_config(config), " members=", member_count, " clients=", client_count,
                     " lease_ms=", lease_ns / kNanosPerMilli, clocks_wild ? " wild_clocks" : "",
                     config.network.byte_streams ? " byte_streams" : "", " faults: ", plan.describe(),
                     corruptible.empty() ? "" : " corruptible=", absl::StrJoin(corruptible, ","),
                     config.buggify ? absl::StrCat(" knobs: ", knobs.describe()) : std::string(),
                     rot_scenario ? absl::StrCat(" tail_rot@", rot_at_ns / kNanosPerMilli, "ms")
                                  : std::string(),
                     power_scenario ? absl::StrCat(" power_loss@", absl::StrJoin(power_at_ms, ","), "ms")
                                    : std::string(),
                    split_scenario ? absl::StrCat(" split_brain@", split_at_ms, "ms") : std::string(),
                    lease_scenario ? absl::StrCat(" takeover@", lease_at_ms, "ms(",
                                                   LeaseTakeoverScenario::kind_name(lease_scenario->kind()), ")")
                                   : std::string());
    result.stats = s.stats();
    result.simulated_ns = s.now_ns();
    result.events = s.scheduler().events_run();
    return result;
  }

};

}  // namespace

std::unique_ptr<Workload> make_protocol_workload() { return std::make_unique<ProtocolWorkload>(); }

}  // namespace walle::sim::protocol_workload
