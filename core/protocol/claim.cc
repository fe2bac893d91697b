#include "core/protocol/claim.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/protocol/request_ids.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

ClaimCoordinator::ClaimCoordinator(NetworkEnv& env, ClaimOptions options, Done done)
    : env_(env),
      options_(std::move(options)),
      done_(std::move(done)),
      // Replies to an earlier claim of this process never match this one's ids.
      next_request_id_(first_request_id(options_.first_request_id, env.random)),
      timer_(env.clock),
      resend_timer_(env.clock) {
  WALLE_CHECK(!options_.members.empty());
}

uint64_t ClaimCoordinator::send(NodeId to, Phase phase, auto message) {
  WALLE_CHECK(phase_ != Phase::kDone && phase == phase_);  // requests belong to the phase
  const uint64_t id = next_request_id_++;
  message.stream = options_.stream;
  message.request_id = id;
  Pending& pending = pending_[id] = Pending{to, phase, wire::encode(message)};
  env_.transport.send(to, pending.bytes);
  return id;
}

namespace {

const char* phase_name(int phase) {
  static constexpr const char* kNames[] = {"info",    "new",    "tails",  "catch-up",
                                           "restamp", "repair", "commit", "done"};
  return kNames[phase];
}

// A reply refusing with a status that may change (not a newer writer's kFailedPrecondition).
bool refused_for_now(const ProtocolMessage& message) {
  return std::visit(
      [](const auto& m) {
        if constexpr (requires { m.status; }) {
          const absl::Status status = m.status.to_status();
          return !status.ok() && !absl::IsFailedPrecondition(status);
        }
        return false;
      },
      message);
}

}  // namespace

void ClaimCoordinator::arm_timer(int64_t timeout_ns) {
  timer_.cancel();
  // A spurious timeout: the phase restarts (or, before tails, the claim fails) as if every
  // reply had been lost.
  if (WALLE_BUGGIFY(env_.buggify, kBuggifyPhaseTimeout)) timeout_ns = kNanosPerMilli;
  const Phase phase = phase_;
  const int attempt = attempt_;
  timer_.start(timeout_ns, [this, phase, attempt] {
    if (phase_ != phase || attempt_ != attempt) return;
    if (phase_ == Phase::kInfo || phase_ == Phase::kNewWriter) {
      finish(absl::UnavailableError(
          absl::StrCat("claim of ", options_.stream, ": no majority answered in time")));
    } else {
      std::string waiting;
      for (const auto& [id, pending] : pending_) {
        if (pending.phase == phase_) absl::StrAppend(&waiting, " ", pending.member);
      }
      retry(absl::DeadlineExceededError(absl::StrCat("phase ", phase_name(static_cast<int>(phase_)),
                                                     " timed out waiting for members", waiting)));
    }
  });
}

void ClaimCoordinator::arm_resend() {
  if (resend_timer_.pending() || options_.resend_ns <= 0) return;
  resend_timer_.start(options_.resend_ns, [this] { resend_unanswered(); });
}

void ClaimCoordinator::resend_unanswered() {
  if (phase_ == Phase::kDone) return;
  for (const auto& [id, pending] : pending_) {
    if (pending.phase == phase_) env_.transport.send(pending.member, pending.bytes);
  }
  arm_resend();
}

void ClaimCoordinator::finish(absl::StatusOr<ClaimResult> result) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  pending_.clear();
  if (result.ok()) {
    WALLE_EVENT(env_, "claim: writer ", result->writer.ts, ".", result->writer.id % 10000, " owns ",
                options_.stream, " from tail ", result->tail_id);
  } else {
    WALLE_EVENT(env_, "claim: failed: ", result.status().message());
  }
  timer_.cancel();
  resend_timer_.cancel();
  done_(std::move(result));
}

void ClaimCoordinator::retry(const absl::Status& why) {
  WALLE_EVENT(env_, "claim: attempt ", attempt_, " failed: ", why.message());
  if (++attempt_ >= options_.max_attempts) {
    finish(absl::UnavailableError(absl::StrCat("claim of ", options_.stream, " gave up after ",
                                               attempt_, " attempts; last: ", why.message())));
    return;
  }
  start_tails();
}

void ClaimCoordinator::start() {
  WALLE_CHECK(phase_ == Phase::kInfo && attempt_ == 0 && pending_.empty());  // once
  phase_ = Phase::kInfo;
  answered_.clear();
  for (NodeId m : options_.members) send(m, Phase::kInfo, WriterInfoRequest{});
  arm_timer(options_.phase_timeout_ns);
  arm_resend();
}

bool ClaimCoordinator::on_message(NodeId from, const ProtocolMessage& message) {
  const uint64_t request_id = std::visit([](const auto& m) { return m.request_id; }, message);
  auto it = pending_.find(request_id);
  if (it == pending_.end() || it->second.member != from) return false;
  const Phase phase = it->second.phase;
  Pending answered = std::move(it->second);
  pending_.erase(it);
  if (phase_ == Phase::kDone || phase != phase_) return true;  // a reply to an earlier phase
  // A member that refuses for now (its stream still opening after a restart, say) is asked
  // again at the next resend, like a silent one; forgetting the request left the phase
  // waiting for its timeout (found by the split-brain scenario: claims at boot stalled 1 s).
  // (Later phases restart from tails on a refusal.)
  const bool asks_every_member =
      phase == Phase::kInfo || phase == Phase::kNewWriter || phase == Phase::kTails;
  if (asks_every_member && refused_for_now(message)) {
    pending_.emplace(request_id, std::move(answered));
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, WriterInfoReply>) on_writer_info(from, m);
        if constexpr (std::is_same_v<T, NewWriterReply>) on_new_writer(from, m);
        if constexpr (std::is_same_v<T, TailReply>) on_tail(from, m);
        if constexpr (std::is_same_v<T, ReadReply>) on_read(from, phase, request_id, m);
        if constexpr (std::is_same_v<T, PutReply>) on_put(from, phase, m);
      },
      message);
  return true;
}

// --- info: learn the newest writer, so W is newer (Q-13: no wall clocks) -------------------

void ClaimCoordinator::on_writer_info(NodeId from, const WriterInfoReply& reply) {
  if (!reply.status.to_status().ok()) return;
  answered_.insert(from);
  newest_seen_ = std::max(newest_seen_, reply.writer);
  // How long members will make NewWriter wait: the longest remaining lease reported (Q-20:
  // derived from the previous writer, not from the claimant's own lease).
  previous_lease_ns_ = std::max({previous_lease_ns_, reply.lease_ns, reply.remaining_lease_ns});
  longest_remaining_ns_ = std::max(longest_remaining_ns_, reply.remaining_lease_ns);
  if (answered_.size() < majority()) return;
  if (!options_.preempt && longest_remaining_ns_ > 0) {
    finish(absl::UnavailableError(absl::StrCat(
        "claim of ", options_.stream, ": writer ", newest_seen_.ts, " holds a lease for ",
        longest_remaining_ns_ / kNanosPerMilli, " ms more (claim with preempt to take over)")));
    return;
  }
  if (longest_remaining_ns_ > 0) WALLE_COVER(env_, CoveragePath::kTakeoverUnderLiveLease);
  start_new_writer();
}

void ClaimCoordinator::start_new_writer() {
  phase_ = Phase::kNewWriter;
  answered_.clear();
  writer_ = WriterId{newest_seen_.ts + 1, env_.random.next_u64()};
  WALLE_EVENT(env_, "claim: NewWriter ", writer_.ts, ".", writer_.id % 10000);
  for (NodeId m : options_.members) {
    send(m, Phase::kNewWriter, NewWriterRequest{{}, 0, writer_, options_.lease_ns});
  }
  // Members answer after the previous writer's lease ran out (Q-20: wait as long as it).
  arm_timer(previous_lease_ns_ + options_.phase_timeout_ns);
}

void ClaimCoordinator::on_new_writer(NodeId from, const NewWriterReply& reply) {
  const absl::Status status = reply.status.to_status();
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    finish(absl::FailedPreconditionError(
        absl::StrCat("claim of ", options_.stream, ": a newer writer claimed it meanwhile")));
    return;
  }
  if (!status.ok()) return;
  accepted_.insert(from);
  if (phase_ == Phase::kTails) {
    send(from, Phase::kTails, TailRequest{});  // a late acceptance joins the tails phase
  } else if (accepted_.size() >= majority()) {
    start_tails();
  }
}

// --- tails ------------------------------------------------------------------------------

void ClaimCoordinator::start_tails() {
  phase_ = Phase::kTails;
  pending_.clear();  // replies to an abandoned attempt are ignored
  read_for_.clear();
  puts_outstanding_ = 0;
  answered_.clear();
  tails_.clear();
  uncertain_tails_.clear();
  repairs_.clear();
  for (NodeId m : options_.members) {
    // Only members that accepted W have a tail that no older writer can still extend; the
    // others are asked to accept first (a retry may need them: a member of the first
    // majority can turn out damaged, or stay silent).
    if (accepted_.contains(m)) {
      send(m, Phase::kTails, TailRequest{});
    } else {
      send(m, Phase::kTails, NewWriterRequest{{}, 0, writer_, options_.lease_ns});
    }
  }
  arm_timer(options_.phase_timeout_ns);
}

void ClaimCoordinator::on_tail(NodeId from, const TailReply& reply) {
  if (!reply.status.to_status().ok() || reply.heads.empty() || damaged_.contains(from)) return;
  switch (reply.damage) {
    case storage::TailDamage::kRot:
      // Its recovery lost state it may have acknowledged, in bytes that had been durable:
      // it does not vote.
      WALLE_COVER(env_, CoveragePath::kRotMemberExcluded);
      damaged_.insert(from);
      break;
    case storage::TailDamage::kUncertain:
      uncertain_tails_[from] = reply.heads;
      break;
    case storage::TailDamage::kNone:
      tails_[from] = reply.heads;
      break;
  }
  if (tails_.size() >= majority()) {
    start_catch_up();
    return;
  }
  // Every member answered (rot ones included) and the voters are a majority. An acknowledged
  // entry is durable on a majority M; at most a minority rots (the fault budget), so some
  // member of M is neither rotten nor silent, and holds it: its tail is in Q.
  const size_t voters = tails_.size() + uncertain_tails_.size();
  if (voters >= majority() && voters + damaged_.size() == options_.members.size()) {
    WALLE_EVENT(env_, "claim: every member answered; ", uncertain_tails_.size(),
                " uncertain tails vote");
    WALLE_COVER(env_, CoveragePath::kUncertainTailsVote);
    tails_.merge(uncertain_tails_);
    uncertain_tails_.clear();
    start_catch_up();
  }
}

// --- catch-up: all of Q at the highest committed entry in Q --------------------------------

void ClaimCoordinator::start_catch_up() {
  WALLE_CHECK(tails_.size() >= majority());
  phase_ = Phase::kCatchUp;
  uint64_t highest = 0;
  NodeId holder = 0;
  for (const auto& [member, heads] : tails_) {
    if (heads.front().id >= highest) {
      highest = heads.front().id;
      holder = member;
    }
  }
  bool lagging = false;
  for (const auto& [member, heads] : tails_) lagging |= heads.front().id < highest;
  if (!lagging) {
    committed_id_ = highest;
    committed_checksum_ = tails_.at(holder).front().checksum;
    start_restamp();
    return;
  }
  send(holder, Phase::kCatchUp,
       ReadRequest{{}, 0, highest, highest + 1, options_.read_chunk_bytes, false, 0});
  arm_timer(options_.phase_timeout_ns);
}

// --- restamp: the chosen tail carries W on its holder before anyone is repaired -------------

void ClaimCoordinator::start_restamp() {
  WALLE_CHECK(tails_.size() >= majority());
  phase_ = Phase::kRestamp;
  bool first = true;
  for (const auto& [member, heads] : tails_) {
    const EntryHeadMessage& last = heads.back();
    const bool better = first || last.writer > chosen_tail_.writer ||
                        (last.writer == chosen_tail_.writer && last.id > chosen_tail_.id);
    if (better) {
      chosen_ = member;
      chosen_tail_ = last;
      first = false;
    }
  }
  // The choice by id alone (the original's) would have picked another tail.
  for (const auto& [member, heads] : tails_) {
    const EntryHeadMessage& last = heads.back();
    if (last.id > chosen_tail_.id ||
        (last.id == chosen_tail_.id && last.checksum != chosen_tail_.checksum)) {
      WALLE_COVER(env_, CoveragePath::kStampIdDisagreement);
      break;
    }
  }
  if (env_.events != nullptr && env_.events->enabled()) {
    std::string tails;
    for (const auto& [member, heads] : tails_) {
      absl::StrAppend(&tails, " m", member, "=", heads.front().id, "..", heads.back().id, "@",
                      heads.back().writer.ts);
    }
    WALLE_EVENT(env_, "claim: committed ", committed_id_, ", chose tail ", chosen_tail_.id,
                " of member ", chosen_, "; tails", tails);
  }
  send(
      chosen_, Phase::kRestamp,
      ReadRequest{{}, 0, chosen_tail_.id, chosen_tail_.id + 1, options_.read_chunk_bytes, true, 0});
  arm_timer(options_.phase_timeout_ns);
}

void ClaimCoordinator::on_read(NodeId from, Phase phase, uint64_t request_id,
                               const ReadReply& reply) {
  const absl::Status status = reply.status.to_status();
  if (!status.ok() || reply.entries.empty()) {
    // The member could not produce an entry its tail listed because its copy is damaged:
    // form Q without it from here on. (Other failures, e.g. a commit point lost in a crash
    // since the tail was sent, just retry.)
    if (absl::IsDataLoss(status) || (status.ok() && reply.entries.empty())) {
      WALLE_EVENT(env_, "claim: member ", from, " is damaged for this claim");
      WALLE_COVER(env_, CoveragePath::kRotMemberExcluded);
      damaged_.insert(from);
    }
    retry(status.ok() ? absl::DataLossError("an entry to copy could not be read") : status);
    return;
  }
  if (phase == Phase::kCatchUp) {
    // Every lagging member of Q stores the committed entry as committed (a gap commit if it
    // lacks what precedes it: backfill fills that later).
    const Entry& entry = reply.entries.front();
    for (const auto& [member, heads] : tails_) {
      if (heads.front().id >= entry.id) continue;
      ++puts_outstanding_;
      send(member, Phase::kCatchUp,
           PutRequest{{}, 0, writer_, entry.id, entry.checksum, entry, options_.lease_ns});
    }
    return;
  }
  if (phase == Phase::kRestamp) {
    chosen_entry_ = reply.entries.front();
    chosen_entry_.writer = writer_;
    puts_outstanding_ = 1;
    send(chosen_, Phase::kRestamp,
         PutRequest{
             {}, 0, writer_, committed_id_, committed_checksum_, chosen_entry_, options_.lease_ns});
    return;
  }
  // Repair: send the chunk to its follower, stamped W, in id order.
  auto follower = read_for_.find(request_id);
  if (follower == read_for_.end()) return;
  const NodeId to = follower->second;
  read_for_.erase(follower);
  Repair& repair = repairs_.at(to);
  for (const Entry& original : reply.entries) {
    if (original.id != repair.next || original.id > repair.end) break;
    // Copies keep their stamps; only the chosen tail carries W, and a follower applies it
    // only after everything before it. A W stamp anywhere thus vouches for the whole chosen
    // chain: a follower whose repair was cut short must not look like one that has it all.
    Entry entry = original;
    if (entry.id == chosen_tail_.id) entry.writer = writer_;
    ++repair.outstanding;
    ++repair.next;
    send(to, Phase::kRepair,
         PutRequest{{}, 0, writer_, committed_id_, committed_checksum_, entry, options_.lease_ns});
  }
  if (repair.outstanding == 0) retry(absl::DataLossError("repair read returned nothing usable"));
}

// --- repair: each other member of Q gets the chosen chain from its first divergence ---------

void ClaimCoordinator::start_repair() {
  phase_ = Phase::kRepair;
  const std::vector<EntryHeadMessage>& chosen = tails_.at(chosen_);
  for (const auto& [member, heads] : tails_) {
    if (member == chosen_) continue;
    size_t i = 0;
    while (i < heads.size() && i < chosen.size() && heads[i].known &&
           heads[i].checksum == chosen[i].checksum) {
      ++i;
    }
    if (i < chosen.size()) repairs_[member] = Repair{chosen[i].id, chosen_tail_.id, 0};
    // It holds entries past the divergence: its own tail is replaced, not just extended.
    if (i < chosen.size() && i < heads.size()) WALLE_COVER(env_, CoveragePath::kDivergentRepair);
  }
  if (repairs_.empty()) {
    start_commit();
    return;
  }
  for (auto& [member, repair] : repairs_) repair_next_chunk(member);
  arm_timer(options_.phase_timeout_ns);
}

void ClaimCoordinator::repair_next_chunk(NodeId follower) {
  Repair& repair = repairs_.at(follower);
  if (repair.next > repair.end) {
    repairs_.erase(follower);
    if (repairs_.empty()) start_commit();
    return;
  }
  // The data comes from the chosen member; the reply says which follower it is for through
  // the pending table (one read per follower at a time).
  const uint64_t id =
      send(chosen_, Phase::kRepair,
           ReadRequest{{},
                       0,
                       repair.next,
                       repair.end + 1,
                       WALLE_BUGGIFY(env_.buggify, kBuggifyOneEntryRepair) ? 1 : options_.read_chunk_bytes,
                       true,
                       0});
  read_for_[id] = follower;
}

// --- commit --------------------------------------------------------------------------------

void ClaimCoordinator::start_commit() {
  phase_ = Phase::kCommit;
  puts_outstanding_ = 0;
  for (const auto& [member, heads] : tails_) {
    ++puts_outstanding_;
    send(member, Phase::kCommit,
         PutRequest{{},
                    0,
                    writer_,
                    chosen_entry_.id,
                    chosen_entry_.checksum,
                    chosen_entry_,
                    options_.lease_ns});
  }
  arm_timer(options_.phase_timeout_ns);
}

void ClaimCoordinator::on_put(NodeId from, Phase phase, const PutReply& reply) {
  const absl::Status status = reply.status.to_status();
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    finish(absl::FailedPreconditionError(
        absl::StrCat("claim of ", options_.stream, ": a newer writer claimed it meanwhile")));
    return;
  }
  if (!status.ok()) {
    retry(status);
    return;
  }
  if (phase == Phase::kRepair) {
    Repair& repair = repairs_.at(from);
    WALLE_CHECK(repair.outstanding > 0);  // one per put sent, and this reply matched one
    if (--repair.outstanding == 0) repair_next_chunk(from);
    return;
  }
  WALLE_CHECK(puts_outstanding_ > 0);
  if (--puts_outstanding_ > 0) return;
  switch (phase) {
    case Phase::kCatchUp:
      start_tails();  // tails again, now from a common committed entry
      return;
    case Phase::kRestamp:
      start_repair();
      return;
    case Phase::kCommit:
      finish(ClaimResult{writer_, chosen_entry_.id, chosen_entry_.checksum});
      return;
    default:
      return;
  }
}

void ClaimCoordinator::check_invariants() const {
  if (phase_ == Phase::kDone) {
    // finish() dropped every request and timer: nothing of this claim runs again.
    WALLE_CHECK(pending_.empty() && !timer_.pending() && !resend_timer_.pending());
    return;
  }
  WALLE_CHECK(attempt_ < std::max(options_.max_attempts, 1));
  WALLE_CHECK(pending_.empty() || timer_.pending());  // every phase that asks is bounded
  // Phases only move forward within an attempt, and a new attempt drops older requests.
  for (const auto& [id, pending] : pending_) {
    WALLE_CHECK(pending.phase <= phase_);
    WALLE_CHECK(id < next_request_id_);
  }
  if (phase_ >= Phase::kNewWriter) WALLE_CHECK(newest_seen_ < writer_);
  if (phase_ >= Phase::kTails) WALLE_CHECK(accepted_.size() >= majority());
  if (phase_ < Phase::kCatchUp) return;
  // Q: a majority of tails, none from a member found damaged, none empty.
  WALLE_CHECK(tails_.size() >= majority());
  for (const auto& [member, heads] : tails_) {
    WALLE_CHECK(!heads.empty());
    WALLE_CHECK(!damaged_.contains(member));
  }
  if (phase_ == Phase::kCatchUp) WALLE_CHECK(puts_outstanding_ <= tails_.size());
  if (phase_ < Phase::kRestamp) return;
  // The chosen tail is the last head of a member of Q, at or above the common commit point.
  WALLE_CHECK(tails_.contains(chosen_));
  WALLE_CHECK(tails_.at(chosen_).back().id == chosen_tail_.id);
  WALLE_CHECK(committed_id_ <= chosen_tail_.id);
  if (phase_ == Phase::kRestamp) WALLE_CHECK(puts_outstanding_ <= 1);
  // (The chosen entry's id is what its holder sent: a peer's word, not checked here.)
  if (phase_ == Phase::kRepair) {
    WALLE_CHECK(chosen_entry_.writer == writer_);
    for (const auto& [member, repair] : repairs_) {
      WALLE_CHECK(member != chosen_ && tails_.contains(member));
      WALLE_CHECK(repair.end == chosen_tail_.id && repair.next <= repair.end + 1);
    }
    for (const auto& [id, follower] : read_for_) WALLE_CHECK(repairs_.contains(follower));
  }
  if (phase_ == Phase::kCommit) {
    WALLE_CHECK(chosen_entry_.writer == writer_);
    WALLE_CHECK(puts_outstanding_ <= tails_.size());
  }
}

}  // namespace walle::protocol
