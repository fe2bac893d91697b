#include "sim/workloads/protocol_workload.h"

#include <optional>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/protocol/claim.h"
#include "core/protocol/member_node.h"
#include "core/protocol/reader.h"
#include "core/protocol/writer.h"
#include "core/wire/codec.h"
#include "sim/fault_plan.h"
#include "sim/nemesis.h"
#include "sim/power_loss_scenario.h"
#include "sim/tail_rot_scenario.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {
namespace {

using protocol::ClaimCoordinator;
using protocol::ClaimOptions;
using protocol::ClaimResult;
using protocol::ProtocolMessage;
using protocol::Writer;
using protocol::WriterOptions;

constexpr const char* kStream = "s";

class ProtocolClient;

// Every invariant, checked as events happen; the first violation is kept.
class Checker {
 public:
  // Members in `corruptible` may lose what they acknowledged to corruption (the budget).
  Checker(Simulation& sim, absl::btree_set<NodeId> corruptible)
      : sim_(sim), corruptible_(std::move(corruptible)) {}

  void on_claimed(const ClaimResult& result) {
    // Durability: a claim adopts every entry older writers had acknowledged before it
    // completed. (A newer writer may have overtaken a slow claim: that claim's writer is then
    // superseded and its puts are refused.)
    for (const auto& [id, acked] : acked_) {
      if (id > result.tail_id && acked.second < result.writer) {
        fail(absl::StrCat("durability: a claim by writer ", result.writer.ts, ".", result.writer.id,
                          " ended at tail ", result.tail_id, " but entry ", id,
                          " was acknowledged before"));
        break;
      }
    }
    claims_.push_back(result);
  }

  void on_acked(WriterId writer, uint64_t id, uint64_t checksum,
                const std::vector<ProtocolClient*>& clients, NodeId self);

  // Agreement as readers see it: a committed entry read from any member is the one
  // acknowledged at that id, and every reader sees the same entry there.
  void on_read(NodeId reader, const Entry& entry) {
    auto [it, inserted] = read_.try_emplace(entry.id, entry.checksum);
    if (!inserted && it->second != entry.checksum) {
      return fail(absl::StrCat("agreement: client ", reader, " read entry ", entry.id,
                               " different from what another read there"));
    }
    auto acked = acked_.find(entry.id);
    if (acked != acked_.end() && acked->second.first != entry.checksum) {
      fail(absl::StrCat("agreement: client ", reader, " read entry ", entry.id,
                        " different from the acknowledged one"));
    }
  }
  uint64_t entries_read() const { return read_.size(); }

  void fail(std::string message) {
    if (status_.ok()) {
      status_ = absl::InternalError(
          absl::StrCat("at ", absl::StrFormat("%.6f", sim_.now_ns() / 1e9), "s: ", message));
    }
  }
  // Member durability: a member's OK to a put means the entry is durable there, so a crash
  // must not take it away (unless the protocol itself removed it before the crash).
  void on_member_ack(NodeId member, uint64_t id, uint64_t checksum) {
    member_acks_[member][id] = checksum;
  }
  void before_crash(NodeId member);
  bool recoveries_pending() const { return !must_survive_.empty(); }
  void check_recoveries();

  const absl::Status& status() const { return status_; }
  uint64_t claimed_tail(const WriterId& writer) const {
    for (const ClaimResult& claim : claims_) {
      if (claim.writer == writer) return claim.tail_id;
    }
    return 0;
  }
  uint64_t acks() const { return acks_; }
  uint64_t max_acked() const { return acked_.empty() ? 0 : acked_.rbegin()->first; }
  const absl::btree_map<uint64_t, std::pair<uint64_t, WriterId>>& acked() const { return acked_; }

 private:
  Simulation& sim_;
  absl::btree_set<NodeId> corruptible_;
  absl::btree_map<uint64_t, std::pair<uint64_t, WriterId>> acked_;  // id -> checksum, writer
  absl::btree_map<uint64_t, uint64_t> read_;                        // id -> checksum read
  std::vector<ClaimResult> claims_;
  absl::btree_map<NodeId, absl::btree_map<uint64_t, uint64_t>> member_acks_;  // id -> checksum
  absl::btree_map<NodeId, absl::btree_map<uint64_t, uint64_t>> must_survive_;
  uint64_t acks_ = 0;
  absl::Status status_;
};

struct ClientConfig {
  std::vector<NodeId> members;
  int64_t lease_ns;
  uint64_t entries;  // to write in all, per client
  uint64_t max_entry_bytes;
  double compete_per_tick;  // chance per tick of claiming while already writing
  bool bug_commit_without_majority;
  NodeId reader;  // the client that also tails the stream (one is enough, and reads cost)
};

// A client process: claims the stream, writes entries, and now and then competes.
class ProtocolClient final : public Node {
 public:
  ProtocolClient(Env& env, const ClientConfig& config, Checker& checker,
                 std::vector<ProtocolClient*>& registry)
      : env_(env),
        config_(config),
        checker_(checker),
        registry_(registry),
        reader_(env, protocol::ReaderOptions{kStream, config.members}) {
    registry_[env_.self] = this;
  }
  ~ProtocolClient() override { registry_[env_.self] = nullptr; }

  void start() override { schedule_tick(env_.random.uniform_between(0, 20) * kNanosPerMilli); }

  void receive(NodeId from, std::string_view bytes) override {
    absl::StatusOr<ProtocolMessage> m = wire::decode<ProtocolMessage>(bytes);
    if (!m.ok()) return;
    if (claim_ != nullptr && claim_->on_message(from, *m)) return;
    if (reader_.on_message(from, *m)) return;
    if (writer_ == nullptr || !writer_->on_message(from, *m)) return;
    const auto* reply = std::get_if<protocol::PutReply>(&*m);
    if (reply != nullptr && reply->entry_id > 0 && reply->status.to_status().ok()) {
      auto it = checksums_.find(reply->entry_id);
      if (it != checksums_.end()) checker_.on_member_ack(from, it->first, it->second);
    }
    pump();  // commits free room in the pipeline: refill it at once, not at the next tick
  }

  const Writer* writer() const { return writer_.get(); }
  bool reads() const { return env_.self == config_.reader; }
  uint64_t read_through() const { return read_from_ - 1; }
  uint64_t written() const { return written_; }
  void set_stopped(bool stopped) { stopped_ = stopped; }

 private:
  void schedule_tick(int64_t delay_ns) {
    env_.clock.start_timer(delay_ns, [this] { tick(); });
  }

  void tick() {
    schedule_tick(25 * kNanosPerMilli);
    if (stopped_) return;
    const int64_t now = env_.clock.now_ns();
    if (writer_ != nullptr && writer_->closed()) {
      // Lost to a newer writer: let it work a while before competing again, or two clients
      // would take the stream from each other forever (the original's WaitAndClaim).
      writer_.reset();
      back_off(now);
    }
    if (writer_ != nullptr && written_ >= config_.entries && writer_->idle()) {
      // Done: release the stream (heartbeats stop, the lease runs out) for the others.
      writer_.reset();
    }
    if (reads() && !reader_.busy()) read_next();
    const bool writing = writer_ != nullptr;
    // Only a client with work left claims.
    if (claim_ == nullptr && written_ < config_.entries && now >= next_claim_ns_ &&
        (!writing || env_.random.chance(config_.compete_per_tick))) {
      // Competing with a live writer is a deliberate takeover; otherwise wait for leases.
      start_claim(/*preempt=*/writing);
    }
    pump();
  }

  // Tails the stream: each read continues where the last ended, waiting for new commits, and
  // must chain onto what this client read before.
  void read_next() {
    (void)reader_.read(
        read_from_, 200 * kNanosPerMilli, [this](absl::StatusOr<std::vector<Entry>> entries) {
          if (!entries.ok()) return;  // no member could serve it: later
          for (const Entry& e : *entries) {
            if (e.checksum != chain_checksum(read_checksum_, e.data)) {
              return checker_.fail(
                  absl::StrCat("agreement: client ", env_.self, " read entry ", e.id,
                               " that does not chain onto the entry it read before"));
            }
            checker_.on_read(env_.self, e);
            read_checksum_ = e.checksum;
            read_from_ = e.id + 1;
          }
        });
  }

  void back_off(int64_t now) {
    next_claim_ns_ = now + env_.random.uniform_between(config_.lease_ns, 4 * config_.lease_ns);
  }

  void start_claim(bool preempt) {
    ClaimOptions options{kStream, config_.members, config_.lease_ns, kNanosPerSecond, 5, 64 << 10};
    options.preempt = preempt;
    claim_ = std::make_unique<ClaimCoordinator>(
        env_, std::move(options), [this](absl::StatusOr<ClaimResult> result) {
          // Destroying the coordinator inside its own callback is unsafe: defer it.
          env_.clock.start_timer(0, [this] { claim_.reset(); });
          if (!result.ok()) {
            back_off(env_.clock.now_ns());
            return;
          }
          checker_.on_claimed(*result);
          checksums_.clear();
          WriterOptions options{kStream, config_.members, config_.lease_ns};
          options.max_in_flight_entries = 32;
          options.bug_commit_without_majority = config_.bug_commit_without_majority;
          writer_ = std::make_unique<Writer>(env_, options, *result);
          pump();
        });
    claim_->start();
  }

  void pump() {
    if (writer_ == nullptr || writer_->closed()) return;
    while (written_ < config_.entries) {
      // Eight random letters, then one letter repeated: entries differ, sizes vary, and
      // making the data no longer costs a fifth of the sweep's time (random bytes did).
      uint64_t bits = env_.random.next_u64();
      std::string data(env_.random.uniform(config_.max_entry_bytes + 1),
                       static_cast<char>('a' + bits % 26));
      for (size_t i = 0; i < std::min<size_t>(8, data.size()); ++i, bits >>= 8) {
        data[i] = static_cast<char>('a' + (bits & 0xff) % 26);
      }
      Writer* w = writer_.get();
      absl::StatusOr<uint64_t> id = w->put(std::move(data), [this, w](absl::Status s) {
        if (!s.ok()) {
          --written_;  // lost with its writer: the next writer writes it again
          return;
        }
        // In the callback, the writer's committed entry is this put's.
        WALLE_EVENT(env_, "client: entry ", w->committed_id(), " acknowledged");
        checker_.on_acked(w->id(), w->committed_id(), w->committed_checksum(), registry_,
                          env_.self);
      });
      if (!id.ok()) return;  // the budget is full, or the writer closed
      checksums_[*id] = w->tail_checksum();
      ++written_;
    }
  }

  Env& env_;
  ClientConfig config_;
  Checker& checker_;
  std::vector<ProtocolClient*>& registry_;
  std::unique_ptr<ClaimCoordinator> claim_;
  std::unique_ptr<Writer> writer_;
  absl::btree_map<uint64_t, uint64_t> checksums_;  // of the current writer's entries, by id
  protocol::Reader reader_;
  uint64_t read_from_ = 1;
  uint64_t read_checksum_ = 0;  // of entry read_from_ - 1 (entry 0's is 0)
  uint64_t written_ = 0;
  int64_t next_claim_ns_ = 0;
  bool stopped_ = false;
};

void Checker::on_acked(WriterId writer, uint64_t id, uint64_t checksum,
                       const std::vector<ProtocolClient*>& clients, NodeId self) {
  ++acks_;
  // Agreement: one entry per committed id.
  if (auto read = read_.find(id); read != read_.end() && read->second != checksum) {
    fail(absl::StrCat("agreement: entry ", id, " was acknowledged different from what was read"));
    return;
  }
  auto [it, inserted] = acked_.try_emplace(id, checksum, writer);
  if (!inserted && it->second.first != checksum) {
    fail(absl::StrCat("agreement: entry ", id, " was acknowledged with two different checksums"));
    return;
  }
  // Exclusivity: a newer claim that completed already adopted a tail; an older writer's entry
  // beyond it must never be acknowledged.
  for (const ClaimResult& claim : claims_) {
    if (claim.writer > writer && id > claim.tail_id) {
      fail(absl::StrCat("exclusivity: entry ", id, " of an older writer was acknowledged after a ",
                        "newer claim ended at tail ", claim.tail_id));
      return;
    }
  }
  // Lease safety: while a writer trusts its lease, nothing it does not know is committed: no
  // newer writer commits at all, and an older one only what the lease holder's claim adopted
  // (an old writer may learn late that entries before the claim were committed).
  for (NodeId n = 0; n < clients.size(); ++n) {
    const ProtocolClient* other = clients[n];
    if (other == nullptr || n == self || other->writer() == nullptr) continue;
    const Writer& w = *other->writer();
    if (w.id() == writer || !w.lease_valid()) continue;
    if (writer > w.id() || id > claimed_tail(w.id())) {
      fail(absl::StrCat("lease safety: entry ", id, " was committed while client ", n,
                        " trusted its lease"));
      return;
    }
  }
}

namespace {

// Whether `store` holds entry `id` with `checksum` (below its commit point: some entry).
bool holds(const storage::StreamStore& store, uint64_t id, uint64_t checksum) {
  if (id < store.meta().first_entry_id) return true;  // trimmed by the protocol
  if (id < store.committed_id()) return !store.missing().contains(id);
  const std::optional<storage::EntryHead> head = store.head(id);
  return head.has_value() && head->checksum == checksum;
}

storage::StreamStore* member_store(Simulation& sim, NodeId node) {
  auto* member = sim.node_as<protocol::MemberNode>(node);
  return member == nullptr ? nullptr : member->store(kStream);
}

}  // namespace

void Checker::before_crash(NodeId member) {
  if (corruptible_.contains(member)) return;
  const storage::StreamStore* store = member_store(sim_, member);
  if (store == nullptr) return;  // not open: what must survive an earlier crash still must
  absl::btree_map<uint64_t, uint64_t> survive = std::move(must_survive_[member]);
  for (const auto& [id, checksum] : member_acks_[member]) survive[id] = checksum;
  member_acks_.erase(member);
  // Below the commit point heads are gone; a committed id vouches for the entry only when it
  // is the one the writers had acknowledged there (else the protocol replaced it earlier),
  // and only in the live log: a copy refilled from a peer after a gap commit dropped the
  // member's own is the backfill's (synced before its next chunk), not this acknowledgement.
  absl::erase_if(survive, [this, store](const auto& e) {
    const auto& [id, checksum] = e;
    if (id < store->committed_id()) {
      auto acked = acked_.find(id);
      return acked == acked_.end() || acked->second.first != checksum ||
             store->locate(id) != storage::StreamStore::Location::kLive;
    }
    return !holds(*store, id, checksum);
  });
  must_survive_.erase(member);
  if (!survive.empty()) must_survive_[member] = std::move(survive);
}

void Checker::check_recoveries() {
  for (auto it = must_survive_.begin(); it != must_survive_.end();) {
    const storage::StreamStore* store = member_store(sim_, it->first);
    if (store == nullptr) {
      ++it;
      continue;  // still down, or recovering
    }
    for (const auto& [id, checksum] : it->second) {
      if (!holds(*store, id, checksum)) {
        fail(absl::StrCat("durability: member ", it->first, " acknowledged entry ", id,
                          " but lost it in a crash"));
        return;
      }
    }
    it = must_survive_.erase(it);
  }
}

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
            "bug_ack_before_sync=0, bug_accept_older_writer=0, bug_commit_without_majority=0"};
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
    auto bug_ack = params.integer("bug_ack_before_sync", 0, 0, 1);
    auto bug_older = params.integer("bug_accept_older_writer", 0, 0, 1);
    auto bug_majority = params.integer("bug_commit_without_majority", 0, 0, 1);
    for (const auto* p : {&members, &clients, &entries, &fault_ms, &heal_ms, &faults, &crashes,
                          &corruption, &tail_rot, &power_loss, &bug_ack, &bug_older, &bug_majority}) {
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
    if (*crashes >= 0) plan.crash_per_second = *crashes / 10.0;
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
    member_options.replica.bug_ack_before_sync = *bug_ack == 1;
    member_options.replica.bug_accept_older_writer = *bug_older == 1;
    const ClientConfig client_config{member_ids,
                                     lease_ns,
                                     static_cast<uint64_t>(*entries),
                                     static_cast<uint64_t>(swarm.uniform_between(0, 2048)),
                                     swarm.chance(0.5) ? 0.005 : 0.0,
                                     *bug_majority == 1,
                                     static_cast<NodeId>(member_count)};

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
    checker = std::make_unique<Checker>(s, corruptible);
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
    s.start_all();
    const int64_t heal_at = *fault_ms * kNanosPerMilli;
    nemesis.start(heal_at);
    run_checked(s, *checker, heal_at);
    if (rot_scenario) rot_scenario->cancel();
    if (power_scenario) power_scenario->cancel();
    nemesis.heal();
    const uint64_t acks_at_heal = checker->acks();
    // Liveness: once healed, writing resumes (unless every client already wrote all).
    const int64_t end = heal_at + *heal_ms * kNanosPerMilli;
    run_checked(s, *checker, end);
    if (checker->status().ok() && client_config.entries > 0 && checker->acks() == acks_at_heal &&
        !all_written(registry, client_config.entries)) {
      checker->fail(
          absl::StrCat("liveness: nothing was committed in ", *heal_ms, "ms after healing"));
    }
    if (checker->status().ok()) check_members(s, *checker, member_count, registry);

    RunResult result;
    result.status = checker->status();
    result.digest = s.trace().digest();
    result.setup =
        absl::StrCat(describe_config(config), " members=", member_count, " clients=", client_count,
                     " lease_ms=", lease_ns / kNanosPerMilli, " faults: ", plan.describe(),
                     corruptible.empty() ? "" : " corruptible=", absl::StrJoin(corruptible, ","),
                     rot_scenario ? absl::StrCat(" tail_rot@", rot_at_ns / kNanosPerMilli, "ms")
                                  : std::string(),
                     power_scenario ? absl::StrCat(" power_loss@", absl::StrJoin(power_at_ms, ","), "ms")
                                    : std::string());
    result.stats = s.stats();
    result.simulated_ns = s.now_ns();
    result.events = s.scheduler().events_run();
    return result;
  }

 private:
  static bool all_written(const std::vector<ProtocolClient*>& registry, uint64_t entries) {
    for (const ProtocolClient* c : registry) {
      if (c != nullptr && c->written() < entries) return false;
    }
    return true;
  }

  static void run_checked(Simulation& sim, Checker& checker, int64_t until_ns) {
    while (checker.status().ok() && sim.scheduler().pending() > 0 &&
           sim.scheduler().next_time_ns() <= until_ns) {
      sim.step();
      if (checker.recoveries_pending()) checker.check_recoveries();
    }
    if (checker.status().ok()) sim.run_until(until_ns);
  }

  // Agreement and durability on the members: every committed entry a member holds is the one
  // acknowledged at that id.
  static void check_members(Simulation& sim, Checker& checker, uint32_t member_count,
                            const std::vector<ProtocolClient*>& registry) {
    // Liveness after healing: gaps are filled, and what was acknowledged is committed (visible
    // to readers) on a majority: announced by its writer, or resolved by the members.
    uint32_t caught_up = 0;
    for (NodeId m = 0; m < member_count; ++m) {
      storage::StreamStore* store = member_store(sim, m);
      if (store == nullptr) continue;
      if (!store->missing().empty()) {
        checker.fail(absl::StrCat("liveness: member ", m, " still misses committed entries ",
                                  store->missing().to_string(), " after healing"));
        return;
      }
      caught_up += store->committed_id() >= checker.max_acked();
    }
    if (caught_up < member_count / 2 + 1) {
      checker.fail(absl::StrCat("liveness: acknowledged entries up to ", checker.max_acked(),
                                " are committed on only ", caught_up, " members after healing"));
      return;
    }
    for (NodeId n = member_count; n < registry.size(); ++n) {
      const ProtocolClient* client = registry[n];
      if (client != nullptr && client->reads() && client->read_through() < checker.max_acked()) {
        checker.fail(absl::StrCat("liveness: client ", n, " has read through entry ",
                                  client->read_through(), " of ", checker.max_acked(),
                                  " acknowledged, after healing"));
        return;
      }
    }
    for (NodeId m = 0; m < member_count && checker.status().ok(); ++m) {
      storage::StreamStore* store = member_store(sim, m);
      if (store == nullptr) continue;
      uint64_t from = std::max<uint64_t>(1, store->meta().first_entry_id);
      while (from <= store->committed_id() && checker.status().ok()) {
        std::optional<absl::StatusOr<std::vector<Entry>>> read;
        store->read(from, store->committed_id() + 1, 1 << 20, false,
                    [&read](absl::StatusOr<std::vector<Entry>> r) { read = std::move(r); });
        while (!read && sim.step()) {
        }
        if (!read || !read->ok() || (*read)->empty()) {
          from = store->missing().contains(from) ? from + 1 : store->committed_id() + 1;
          continue;  // gaps are fine (backfill is not built yet); they are never served
        }
        for (const Entry& e : **read) {
          auto acked = checker.acked().find(e.id);
          if (acked != checker.acked().end() && acked->second.first != e.checksum) {
            checker.fail(absl::StrCat("agreement: member ", m, " holds committed entry ", e.id,
                                      " different from the acknowledged one"));
            return;
          }
          from = e.id + 1;
        }
      }
    }
  }
};

}  // namespace

std::unique_ptr<Workload> make_protocol_workload() { return std::make_unique<ProtocolWorkload>(); }

}  // namespace walle::sim::protocol_workload
