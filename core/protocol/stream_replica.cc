#include "core/protocol/stream_replica.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

StreamReplica::StreamReplica(Env& env, storage::StreamStore& store, const ReplicaOptions& options)
    : env_(env),
      store_(store),
      log_(store),
      options_(options),
      // A stream that has had a writer may have one still. The last renewal this replica
      // granted happened before it went down, so assume it happened at the restart (plus a
      // grace), for the longest lease it ever granted. A stream never claimed has none.
      lease_renewed_ns_(env.clock.now_ns() +
                        (store.meta().writer == WriterId{}
                             ? -store.meta().writer_lease_ns
                             : options.restart_lease_grace_ns +
                                   std::max<int64_t>(0, store.meta().longest_lease_ns -
                                                            store.meta().writer_lease_ns))),
      new_writer_ready_ns_(lease_renewed_ns_ + store.meta().writer_lease_ns),
      queue_timer_(env.clock),
      backfill_(env, store.name(), store, options.backfill, [this] {
        drain_queue();
        serve_polls();
        clear_damage_once_repaired();
      }),
      poll_timer_(env.clock),
      resolver_timer_(env.clock),
      answer_timers_(env.clock) {
  backfill_.wake();  // recovery may have found committed entries missing
  arm_resolver();
  const storage::TailDamage found = store.recovery_report().tail_damage();
  storage::StreamMeta meta = store.meta();
  if (found != storage::TailDamage::kNone &&
      (found > meta.tail_damage || meta.damaged_under < meta.writer)) {
    WALLE_EVENT(env, "replica: tail damage ", storage::tail_damage_name(found),
                "; votes restricted until a newer writer commits");
    // What was lost may have been acknowledged to the newest writer accepted here: only a
    // writer newer than that went through a claim that counted this member as it must.
    meta.tail_damage = std::max(meta.tail_damage, found);
    meta.damaged_under = meta.writer;
    store.update_meta(std::move(meta), [](absl::Status) {});  // retried at the next open
  }
}

void StreamReplica::clear_damage_once_repaired() {
  const storage::StreamMeta& meta = store_.meta();
  if (meta.tail_damage == storage::TailDamage::kNone) return;
  // A writer newer than the one the damage happened under has committed here: every entry
  // acknowledged before is in that writer's history, which this replica now follows.
  const std::optional<storage::EntryHead> head = store_.head(store_.committed_id());
  if (!head || !(head->writer > meta.damaged_under)) return;
  WALLE_EVENT(env_, "replica: tail repaired; votes in claims again");
  storage::StreamMeta repaired = meta;
  repaired.tail_damage = storage::TailDamage::kNone;
  store_.update_meta(std::move(repaired), [](absl::Status) {});
}

void StreamReplica::arm_resolver() {
  if (options_.resolve_after_ns <= 0 || options_.members.empty()) return;
  const int64_t half = options_.resolve_after_ns / 2;
  resolver_timer_.start(
      half + static_cast<int64_t>(env_.random.uniform(static_cast<uint64_t>(half) + 1)), [this] {
        maybe_resolve();
        arm_resolver();
      });
}

// Found with 1000 streams on 3 servers restarted at once: every member resolved every stream
// at the same moment; the claims' metadata syncs on one disk made them time out, and each was
// retried at the next check (hundreds of claims a second, forever, none finishing). Turns
// keep members from dueling; backoff from each attempt lets the load drain.
int64_t StreamReplica::resolve_wait_ns() const {
  const auto self = std::find(options_.members.begin(), options_.members.end(), env_.self);
  const int64_t turn = self == options_.members.end() ? 0 : self - options_.members.begin();
  return (options_.resolve_after_ns * (1 + turn)) << std::min(resolve_failures_, 4);
}

void StreamReplica::maybe_resolve() {
  if (resolver_ != nullptr) return;
  // Entries at or below a commit point announced here are merely not fetched yet: backfill's.
  if (store_.tail_id() <= std::max(store_.committed_id(), backfill_.known_commit())) {
    resolve_failures_ = 0;
    return;
  }
  const int64_t wait = resolve_wait_ns();
  if (remaining_lease_ns() > -wait || env_.clock.now_ns() < next_resolve_ns_) return;
  // The next attempt, should this one fail, only this long after it starts: a claim that timed
  // out under load must not be retried at once, by every stream, adding to the load.
  next_resolve_ns_ = env_.clock.now_ns() + wait;
  WALLE_EVENT(env_, "resolver: writer gone with entries ", store_.committed_id() + 1, "..",
              store_.tail_id(), " uncommitted; claiming");
  WALLE_COVER(env_, CoveragePath::kResolverClaim);
  ClaimOptions claim{store_.name(), options_.members, /*lease_ns=*/0};
  claim.max_attempts = 3;
  resolver_ = std::make_unique<ClaimCoordinator>(
      env_, std::move(claim), [this](absl::StatusOr<ClaimResult> result) {
        WALLE_EVENT(env_, "resolver: ",
                    result.ok() ? absl::StrCat("committed through ", result->tail_id)
                                : std::string(result.status().message()));
        // This member may not have been in the claim's quorum: it catches up like any other.
        if (result.ok()) backfill_.note_commit(result->tail_id, result->tail_checksum);
        resolve_failures_ = result.ok() ? 0 : resolve_failures_ + 1;
        // Not inside its own callback: the coordinator goes once this step is over.
        answer_timers_.start(0, [this] { resolver_.reset(); });
      });
  resolver_->start();
}

int64_t StreamReplica::remaining_lease_ns() const {
  return lease_renewed_ns_ + store_.meta().writer_lease_ns - env_.clock.now_ns();
}

bool StreamReplica::protects_lease_of(const WriterId& writer) const {
  if (store_.meta().writer <= writer) return remaining_lease_ns() > 0;
  return new_writer_ready_ns_ > env_.clock.now_ns();
}

void StreamReplica::reply_put(NodeId to, const PutRequest& request, const absl::Status& status) {
  if (status.ok()) {
    ++counters_.puts_acked;
    counters_.put_bytes_acked += request.entry.data.size();
  } else {
    counters_.count_error(status);
  }
  env_.transport.send(to, wire::encode(PutReply{request.stream, request.request_id,
                                                request.entry.id, WireStatus::from(status)}));
}

void StreamReplica::adopt_writer(WriterId writer, int64_t lease_ns,
                                 absl::AnyInvocable<void(absl::Status)> done) {
  WALLE_CHECK(writer >= store_.meta().writer);  // callers refuse older writers first
  if (writer != store_.meta().writer) {
    WALLE_EVENT(env_, "replica: adopts writer ", writer.ts, ".", writer.id % 10000);
  }
  storage::StreamMeta meta = store_.meta();
  meta.writer = writer;
  meta.writer_lease_ns = lease_ns;
  meta.longest_lease_ns = std::max(meta.longest_lease_ns, lease_ns);
  // In memory at once (older writers are refused from now on), durable when `done` runs.
  store_.update_meta(std::move(meta), std::move(done));
}

void StreamReplica::on_put(NodeId from, const PutRequest& request) {
  WALLE_CHECK(request.stream == store_.name());  // routed by stream (MemberNode)
  const WriterId stored = store_.meta().writer;
  // A superseded writer gets nothing, not even a commit: a claim that lost to a newer one
  // must learn it here, or it would report a stream it no longer owns (committed puts were let
  // through once, and a stale claim then "succeeded" after the newer writer had written).
  if (request.writer < stored && !options_.bug_accept_older_writer) {
    reply_put(from, request,
              absl::FailedPreconditionError("writer superseded by a newer one on this member"));
    return;
  }
  if (request.writer > stored) {
    // This member missed the NewWriter; the claim that made this writer already waited out
    // the old lease on a majority, so adopting it is safe (it only refuses more). Its lease
    // comes with the put: this member protects it from now on like the others.
    adopt_writer(request.writer, request.lease_ns, [this, from, request](absl::Status status) {
      if (!status.ok()) return reply_put(from, request, status);
      on_put(from, request);
    });
    return;
  }
  if (request.writer == stored) lease_renewed_ns_ = env_.clock.now_ns();
  if (request.entry.id == 0) {
    // A heartbeat: only the commit point; it rides the next sync (a lost commit mark is
    // learned again from the next put or heartbeat).
    reply_put(from, request, log_.commit(request.committed_id, request.committed_checksum));
  } else if (request.entry.id > store_.tail_id() + 1) {
    enqueue(from, request);
  } else {
    apply(from, request);
    drain_queue();
  }
  // A commit point this replica could not reach: fetch it if puts do not bring it soon.
  if (request.committed_id > store_.committed_id()) {
    backfill_.note_commit(request.committed_id, request.committed_checksum);
  }
  backfill_.wake();
  serve_polls();
  clear_damage_once_repaired();
}

void StreamReplica::apply(NodeId from, const PutRequest& request) {
  // Heartbeats and puts ahead of the tail's successor go elsewhere (on_put, the queue).
  WALLE_CHECK(request.entry.id != 0 && request.entry.id <= store_.tail_id() + 1);
  // A put that waited in the queue while this replica adopted a newer writer is superseded
  // now: it gets nothing, as on_put would answer it (found by reading the code while adding
  // the invariants: the queue applied and acknowledged it).
  if (request.writer < store_.meta().writer && !options_.bug_accept_older_writer) {
    reply_put(from, request,
              absl::FailedPreconditionError("writer superseded by a newer one on this member"));
    return;
  }
  const bool committed = request.committed_id >= request.entry.id;
  // (The planted bug lets an older writer act with the stored writer's authority.)
  const WriterId sender = options_.bug_accept_older_writer
                              ? std::max(request.writer, store_.meta().writer)
                              : request.writer;
  PutResult result = log_.put(request.entry, committed, sender);
  if (result.outcome == PutOutcome::kGapCommit) WALLE_COVER(env_, CoveragePath::kGapCommit);
  if (result.outcome == PutOutcome::kGapCommit || result.outcome == PutOutcome::kReplaced ||
      result.outcome == PutOutcome::kRestamped) {
    WALLE_EVENT(env_, "replica: ",
                result.outcome == PutOutcome::kGapCommit  ? "gap commit of "
                : result.outcome == PutOutcome::kReplaced ? "replaced from "
                                                          : "restamped ",
                request.entry.id, " by writer ", request.writer.ts, "; tail ", store_.tail_id());
  }
  if (!result.status.ok()) {
    reply_put(from, request, result.status);
    return;
  }
  if (!committed) {
    // The commit point travels with the put; failing to apply it changes nothing for the put.
    (void)log_.commit(request.committed_id, request.committed_checksum);
  }
  if (options_.bug_ack_before_sync) {
    reply_put(from, request, absl::OkStatus());  // planted: acknowledged before durable
    store_.sync([](absl::Status) {});
    return;
  }
  store_.sync([this, from, request](absl::Status status) { reply_put(from, request, status); });
}

void StreamReplica::enqueue(NodeId from, const PutRequest& request) {
  WALLE_CHECK(request.entry.id > store_.tail_id() + 1);
  auto it = queue_.find(request.entry.id);
  if (it != queue_.end()) {
    Waiting& existing = it->second;
    // a put merged with another for the same id must be the same entry, or come from a
    // newer writer (which replaces it); the original never compared checksums here.
    if (request.writer < existing.request.writer) {
      reply_put(from, request, absl::FailedPreconditionError("a newer writer's put is queued"));
      return;
    }
    if (request.writer == existing.request.writer &&
        request.entry.checksum != existing.request.entry.checksum) {
      reply_put(from, request,
                absl::InternalError("one writer sent two different entries for one id"));
      return;
    }
    if (request.writer > existing.request.writer) {
      WALLE_COVER(env_, CoveragePath::kQueueMerge);
      reply_put(existing.from, existing.request,
                absl::FailedPreconditionError("replaced by a newer writer's put"));
    } else {
      // A duplicate: the first arrival gets the answer; keep the larger commit point.
      existing.request.committed_id = std::max(existing.request.committed_id, request.committed_id);
      return;
    }
    existing = Waiting{from, request, env_.clock.now_ns()};
    return;
  }
  if (queue_.size() >= options_.max_queued_puts || WALLE_BUGGIFY(env_.buggify, kBuggifyQueueFull)) {
    reply_put(from, request,
              absl::ResourceExhaustedError(absl::StrCat(queue_.size(), " puts wait already")));
    return;
  }
  queue_.emplace(request.entry.id, Waiting{from, request, env_.clock.now_ns()});
  arm_queue_timer();
}

void StreamReplica::drain_queue() {
  while (!queue_.empty()) {
    auto it = queue_.begin();
    if (it->first > store_.tail_id() + 1) break;
    Waiting waiting = std::move(it->second);
    queue_.erase(it);
    apply(waiting.from, waiting.request);
  }
}

// How long a queued put may wait (BUGGIFY: hardly at all; the sender retries).
int64_t StreamReplica::queue_wait_ns() {
  return WALLE_BUGGIFY(env_.buggify, kBuggifyQueueExpiresEarly) ? kNanosPerMilli
                                                               : options_.max_wait_ns;
}

void StreamReplica::arm_queue_timer() {
  if (queue_timer_.pending() || queue_.empty()) return;
  queue_timer_.start(queue_wait_ns(), [this] { on_queue_timer(); });
}

void StreamReplica::on_queue_timer() {
  const int64_t now = env_.clock.now_ns();
  // A committed put ahead of the tail is not applied as a gap commit (that would drop entries
  // this replica holds, perhaps the copy that keeps an acknowledged entry on a majority):
  // backfill fetches what lies between (on_put told it the commit point). Nothing waits
  // forever: the sender retries what times out here.
  std::vector<uint64_t> expired;
  const int64_t max_wait_ns = queue_wait_ns();
  for (const auto& [id, waiting] : queue_) {
    if (now - waiting.arrived_ns >= max_wait_ns) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    Waiting w = std::move(queue_.at(id));
    queue_.erase(id);
    reply_put(w.from, w.request,
              absl::OutOfRangeError(absl::StrCat("entry ", id,
                                                 " waited for its predecessor "
                                                 "too long; retry")));
  }
  arm_queue_timer();
}

void StreamReplica::on_new_writer(NodeId from, const NewWriterRequest& request) {
  WALLE_CHECK(request.stream == store_.name());  // routed by stream (MemberNode)
  auto reply = [this, from, request](const absl::Status& status) {
    if (status.ok()) {
      ++counters_.claims_granted;
    } else {
      counters_.count_error(status);
    }
    env_.transport.send(from, wire::encode(NewWriterReply{request.stream, request.request_id,
                                                          WireStatus::from(status)}));
  };
  const WriterId stored = store_.meta().writer;
  if (request.writer < stored) {
    reply(absl::FailedPreconditionError("a newer writer claimed the stream"));
    return;
  }
  const int64_t now = env_.clock.now_ns();
  const bool retried = request.writer == stored;
  if (!retried) {
    // The previous writer's lease, as measured here, must run out before the new writer may
    // count on exclusivity; the new writer's own lease starts counting after that.
    new_writer_ready_ns_ = now + std::max<int64_t>(0, remaining_lease_ns());
    WALLE_EVENT(env_, "replica: NewWriter ", request.writer.ts, " waits ",
                (new_writer_ready_ns_ - now) / kNanosPerMicro, " us for the old lease (renewed ",
                (now - lease_renewed_ns_) / kNanosPerMicro, " us ago, lease ",
                store_.meta().writer_lease_ns / kNanosPerMicro, " us)");
  }
  // A retried claim is answered no sooner than the first, and only once the metadata naming
  // its writer is durable: written again if it is not (still queued, or a write failed).
  const int64_t wait = std::max<int64_t>(0, new_writer_ready_ns_ - now);
  if (retried && store_.meta_durable()) {
    if (wait == 0) return reply(absl::OkStatus());
    answer_timers_.start(wait, [reply = std::move(reply)]() mutable { reply(absl::OkStatus()); });
    return;
  }
  adopt_writer(request.writer, retried ? store_.meta().writer_lease_ns : request.lease_ns,
               [this, wait, retried, reply = std::move(reply)](absl::Status status) mutable {
                 if (!status.ok()) return reply(status);
                 if (!retried) lease_renewed_ns_ = env_.clock.now_ns() + wait;
                 if (wait == 0) return reply(absl::OkStatus());
                 answer_timers_.start(
                     wait, [reply = std::move(reply)]() mutable { reply(absl::OkStatus()); });
               });
}

void StreamReplica::on_writer_info(NodeId from, const WriterInfoRequest& request) {
  WALLE_CHECK(request.stream == store_.name());  // routed by stream (MemberNode)
  const storage::StreamMeta& meta = store_.meta();
  env_.transport.send(
      from, wire::encode(WriterInfoReply{request.stream, request.request_id, WireStatus{},
                                         meta.writer, meta.writer_lease_ns, remaining_lease_ns(),
                                         store_.committed_id()}));
}

void StreamReplica::on_tail(NodeId from, const TailRequest& request) {
  WALLE_CHECK(request.stream == store_.name());  // routed by stream (MemberNode)
  TailReply reply{request.stream, request.request_id, WireStatus{}, {}, store_.meta().tail_damage};
  for (uint64_t id = store_.committed_id(); id <= store_.tail_id(); ++id) {
    std::optional<storage::EntryHead> head = store_.head(id);
    reply.heads.push_back(head ? EntryHeadMessage{id, head->checksum, head->writer, true}
                               : EntryHeadMessage{id, 0, {}, false});
  }
  env_.transport.send(from, wire::encode(reply));
}

void StreamReplica::on_read(NodeId from, const ReadRequest& request) {
  WALLE_CHECK(request.stream == store_.name());  // routed by stream (MemberNode)
  const bool waits =
      request.wait_ns > 0 && !request.allow_uncommitted && request.from > store_.committed_id();
  if (!waits) {
    const bool over_budget =
        reads_in_flight_ > 0 && read_bytes_in_flight_ + read_budget(request) >
                                    options_.max_read_bytes_in_flight;
    if (reads_in_flight_ >= options_.max_reads_in_flight || over_budget) {
      reply_read(from, ReadReply{request.stream, request.request_id,
                                 WireStatus::from(absl::ResourceExhaustedError(absl::StrCat(
                                     reads_in_flight_, " reads of up to ", read_bytes_in_flight_,
                                     " bytes are being served; retry later"))),
                                 {}, store_.committed_id()});
      return;
    }
    serve_read(from, request);  // present data is served whatever the lease says
    return;
  }
  if (polls_.size() >= options_.max_waiting_reads) {
    reply_read(from, ReadReply{request.stream, request.request_id,
                               WireStatus::from(absl::ResourceExhaustedError(absl::StrCat(
                                   polls_.size(), " reads wait already; poll again later"))),
                               {}, store_.committed_id()});
    return;
  }
  const int64_t wait = std::min(request.wait_ns, options_.max_read_wait_ns);
  polls_.push_back(Poll{from, request, env_.clock.now_ns() + wait});
  arm_poll_timer(polls_.back().deadline_ns);
}

void StreamReplica::arm_poll_timer(int64_t at_ns) {
  if (poll_timer_.pending() && poll_timer_.due_ns() <= at_ns) return;
  poll_timer_.start(at_ns - env_.clock.now_ns(), [this] { on_poll_timer(); });
}

void StreamReplica::serve_read(NodeId from, const ReadRequest& request) {
  // The commit point as the read begins: puts applied while the read runs may replace the
  // uncommitted entries it returns (found by the sweep: a reply paired stale uncommitted
  // entries with the newer commit point, and a peer committed them).
  const uint64_t committed = store_.committed_id();
  const uint64_t budget = read_budget(request);
  ++reads_in_flight_;
  read_bytes_in_flight_ += budget;
  store_.read(request.from, request.to, std::min(request.max_bytes, budget),
              request.allow_uncommitted,
              [this, from, request, committed, budget](absl::StatusOr<std::vector<Entry>> entries) {
                WALLE_CHECK(reads_in_flight_ > 0 && read_bytes_in_flight_ >= budget);
                --reads_in_flight_;
                read_bytes_in_flight_ -= budget;
                ReadReply reply{request.stream, request.request_id, WireStatus{}, {}, committed};
                if (entries.ok()) {
                  reply.entries = std::move(*entries);
                } else if (absl::IsOutOfRange(entries.status()) && request.wait_ns > 0) {
                  // A poll that timed out: nothing new, which is not an error.
                } else {
                  reply.status = WireStatus::from(entries.status());
                }
                // A record that failed its check is missing now (even when the read stopped
                // short of it and succeeded): refill it.
                backfill_.wake();
                reply_read(from, reply);
              });
}

uint64_t StreamReplica::read_budget(const ReadRequest& request) const {
  return std::clamp<uint64_t>(request.max_bytes, 1, options_.max_read_bytes_in_flight);
}

void StreamReplica::reply_read(NodeId to, const ReadReply& reply) {
  if (reply.status.code == 0) {
    ++counters_.reads_served;
    counters_.entries_served += reply.entries.size();
  } else {
    counters_.count_error(reply.status.to_status());
  }
  env_.transport.send(to, wire::encode(reply));
}

void StreamReplica::serve_polls() {
  if (polls_.empty()) return;
  const uint64_t committed = store_.committed_id();
  std::vector<Poll> ready;
  std::erase_if(polls_, [&](Poll& p) {
    if (p.request.from > committed) return false;
    ready.push_back(std::move(p));
    return true;
  });
  for (const Poll& p : ready) serve_read(p.from, p.request);
}

void StreamReplica::on_poll_timer() {
  const int64_t now = env_.clock.now_ns();
  std::vector<Poll> expired;
  std::erase_if(polls_, [&](Poll& p) {
    if (p.deadline_ns > now) return false;
    expired.push_back(std::move(p));
    return true;
  });
  for (const Poll& p : expired) serve_read(p.from, p.request);  // answers "nothing new"
  for (const Poll& p : polls_) arm_poll_timer(p.deadline_ns);
}

bool StreamReplica::on_reply(NodeId from, const ProtocolMessage& reply) {
  if (resolver_ != nullptr && resolver_->on_message(from, reply)) return true;
  if (const auto* info = std::get_if<WriterInfoReply>(&reply)) {
    return backfill_.on_writer_info_reply(from, *info);
  }
  const auto* read = std::get_if<ReadReply>(&reply);
  return read != nullptr && backfill_.on_read_reply(from, *read);
}

void StreamReplica::check_invariants() const {
  log_.check_invariants();
  // The ordering queue: bounded, only puts beyond the tail's successor (the queue drains
  // whenever the tail moves), each under its id, and a timer armed to expire them.
  WALLE_CHECK(queue_.size() <= options_.max_queued_puts);
  if (!queue_.empty()) {
    WALLE_CHECK(queue_.begin()->first > store_.tail_id() + 1);
    WALLE_CHECK(queue_.begin()->second.request.entry.id == queue_.begin()->first);
    WALLE_CHECK(queue_timer_.pending());
  }
  // Parked polls: bounded, only reads past the commit point (the rest were served when it
  // moved), and a timer no later than the earliest deadline.
  WALLE_CHECK(polls_.size() <= options_.max_waiting_reads);
  // Reads in flight: new ones only below the bound, plus polls that became ready.
  WALLE_CHECK(reads_in_flight_ <= options_.max_reads_in_flight + options_.max_waiting_reads);
  WALLE_CHECK((reads_in_flight_ == 0) == (read_bytes_in_flight_ == 0));
  for (const Poll& p : polls_) {
    WALLE_CHECK(p.request.from > store_.committed_id());
    WALLE_CHECK(poll_timer_.pending() && poll_timer_.due_ns() <= p.deadline_ns);
  }
  backfill_.check_invariants();
  if (resolver_ != nullptr) resolver_->check_invariants();
}

}  // namespace walle::protocol
