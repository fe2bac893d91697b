#include "core/protocol/backfill.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/storage/record_format.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

Backfill::Backfill(Env& env, std::string stream, storage::StreamStore& store,
                   BackfillOptions options, absl::AnyInvocable<void()> progressed)
    : env_(env),
      stream_(std::move(stream)),
      store_(store),
      options_(std::move(options)),
      progressed_(std::move(progressed)),
      next_peer_(options_.peers.empty() ? 0 : env.random.uniform(options_.peers.size())),
      next_request_id_(env.random.next_u64() >> 1),
      timer_(env.clock),
      deadline_(env.clock),
      probe_timer_(env.clock) {
  arm_probe();
}

void Backfill::arm_probe() {
  if (options_.peers.empty() || options_.probe_ns <= 0) return;
  const int64_t half = options_.probe_ns / 2;
  const int64_t delay =
      WALLE_BUGGIFY(env_.buggify, kBuggifyProbeNow)
          ? kNanosPerMilli
          : half + static_cast<int64_t>(env_.random.uniform(static_cast<uint64_t>(2 * half) + 1));
  probe_timer_.start(delay, [this] {
    probe();
    arm_probe();
  });
}

void Backfill::probe() {
  if (request_ || timer_.pending()) return;  // busy: it learns commit points anyway
  ++next_peer_;  // each probe asks the next peer: one that lags must not hide the others
  ask(Job::kProbeInfo, 0, 0);
}

void Backfill::note_commit(uint64_t id, uint64_t checksum) {
  if (id <= target_id_) return;
  target_id_ = id;
  target_checksum_ = checksum;
  if (fast_forward_due()) arm(options_.delay_ns);
}

void Backfill::wake() {
  if (!store_.missing().empty()) arm(options_.delay_ns);
}

bool Backfill::fast_forward_due() const { return target_id_ > store_.committed_id(); }

void Backfill::arm(int64_t delay_ns) {
  if (options_.peers.empty() || request_) return;
  // A later run armed by a wake-up must not hold back one due now: the next chunk after a
  // sync waited a full delay behind a read's wake-up, one entry per 100 ms (seed 20728).
  if (timer_.pending() && timer_.due_ns() <= env_.clock.now_ns() + delay_ns) return;
  timer_.start(delay_ns, [this] { run(); });
}

void Backfill::run() {
  if (request_) return;
  // Refill and fast-forward take turns: a failed fast-forward may need a missing entry (our
  // own tail's) before anything chains onto it, and a writer that keeps the target moving
  // must not starve the missing committed entries (seed 20728 ended its heal window with
  // one entry still missing).
  const bool refill_first = refill_next_ && !store_.missing().empty();
  refill_next_ = false;
  if (fast_forward_due() && !refill_first) {
    // The committed entries after our tail, appended in order: what we hold stays (it may be
    // the copy that makes an acknowledged entry durable). If our tail turned out foreign, the
    // comparison starts right after our commit point instead.
    if (!verify_ && store_.tail_id() >= target_id_) {
      const std::optional<storage::EntryHead> head = store_.head(target_id_);
      if (head && head->checksum == target_checksum_) {
        (void)store_.commit(target_id_);  // the same chain up to it: nothing to fetch
        return sync_then_continue();
      }
      verify_ = true;  // we hold another entry there: a superseded writer's
    }
    const uint64_t from = (verify_ ? store_.committed_id() : store_.tail_id()) + 1;
    refill_next_ = true;  // however this fast-forward ends
    ask(Job::kFastForward, from, std::min(target_id_, from + options_.chunk_entries - 1) + 1);
    return;
  }
  verify_ = false;
  if (store_.meta().first_entry_id == 0 && store_.missing().contains(0)) {
    // Entry 0 is the same everywhere: made here, not fetched.
    if (store_.put_backfill(entry_zero(), 0).ok()) {
      ++fetched_entries_;
      sync_then_continue();
    }
    return;
  }
  // The entry before a range is read too: it starts the chain check. So the trim point's own
  // entry cannot be refilled (its predecessor is gone); recovery never loses it in practice,
  // as trimming keeps its segment.
  const uint64_t floor = store_.meta().first_entry_id + 1;
  const auto range = store_.missing().next_range(floor);
  if (!range) return;
  const uint64_t first = std::max(range->first, floor);
  const uint64_t chunk =
      WALLE_BUGGIFY(env_.buggify, kBuggifyOneEntryBackfill) ? 1 : options_.chunk_entries;
  ask(Job::kRefill, first - 1, std::min(range->second, first + chunk));
}

void Backfill::ask(Job job, uint64_t from, uint64_t to) {
  WALLE_CHECK(!request_ && !options_.peers.empty());  // one request at a time
  const NodeId peer = options_.peers[next_peer_ % options_.peers.size()];
  request_ = Request{next_request_id_++, peer, job, from};
  if (job == Job::kProbeInfo) {
    env_.transport.send(peer, wire::encode(WriterInfoRequest{stream_, request_->id}));
  } else {
    // A refill's first entry only starts the chain check: its bytes must not use up the
    // chunk, or an entry larger than the chunk would be asked for forever (found by BUGGIFY's
    // one-byte chunks: missing ids stayed missing).
    const uint64_t max_bytes =
        options_.chunk_bytes +
        (job == Job::kRefill ? storage::kRecordHeaderBytes + storage::kMaxRecordPayloadBytes : 0);
    env_.transport.send(peer,
                        wire::encode(ReadRequest{stream_, request_->id, from, to, max_bytes,
                                                 /*allow_uncommitted=*/job == Job::kFastForward,
                                                 0}));
  }
  const uint64_t id = request_->id;
  deadline_.start(options_.request_timeout_ns, [this, id] {
    if (request_ && request_->id == id) give_up(*request_);
  });
}

void Backfill::give_up(const Request& request) {
  WALLE_EVENT(env_, "backfill: ", request.job == Job::kFastForward ? "fast-forward" : "refill",
              " from ", request.from, " failed at member ", request.peer, "; next peer");
  if (request_ && request_->id == request.id) request_.reset();
  deadline_.cancel();
  ++next_peer_;
  if (request.job == Job::kProbeInfo || request.job == Job::kProbeEntry) return resume();
  arm(options_.delay_ns);
}

void Backfill::resume() {
  // Work that arrived while a probe was out could not start then.
  if (fast_forward_due() || !store_.missing().empty()) arm(options_.delay_ns);
}

void Backfill::finish_request() {
  request_.reset();
  deadline_.cancel();
}

bool Backfill::on_writer_info_reply(NodeId from, const WriterInfoReply& reply) {
  if (!request_ || request_->id != reply.request_id || request_->peer != from) return false;
  const Request request = *request_;
  if (!reply.status.to_status().ok()) {
    give_up(request);
    return true;
  }
  finish_request();
  // The peer committed further than anything announced here: learn that entry's checksum.
  if (reply.committed_id > std::max(store_.committed_id(), target_id_)) {
    ask(Job::kProbeEntry, reply.committed_id, reply.committed_id + 1);
  } else {
    resume();
  }
  return true;
}

bool Backfill::on_read_reply(NodeId from, const ReadReply& reply) {
  if (!request_ || request_->id != reply.request_id || request_->peer != from) return false;
  const Request request = *request_;
  if (!reply.status.to_status().ok() || reply.entries.empty()) {
    give_up(request);
    return true;
  }
  finish_request();
  if (request.job == Job::kProbeEntry) {
    const Entry& entry = reply.entries.front();
    if (entry.id == request.from) note_commit(entry.id, entry.checksum);
    resume();
    return true;
  }
  if (request.job == Job::kFastForward) {
    on_fast_forward(request, reply.entries, reply.committed_id);
  } else {
    on_refill(request, reply.entries);
  }
  return true;
}

void Backfill::on_fast_forward(const Request& request, const std::vector<Entry>& entries,
                               uint64_t peer_committed) {
  WALLE_CHECK(!entries.empty());  // on_read_reply gave up on an empty reply
  if (entries.front().id != request.from) return give_up(request);
  const bool was_verifying = verify_;
  const uint64_t fetched_before = fetched_entries_;
  uint64_t applied = store_.committed_id();
  for (const Entry& entry : entries) {
    if (entry.id <= store_.committed_id()) continue;
    if (entry.id > target_id_) break;
    if (entry.id <= store_.tail_id()) {
      const std::optional<storage::EntryHead> head = store_.head(entry.id);
      if (head && head->checksum == entry.checksum) {
        applied = entry.id;  // held already: the same chain up to here
        continue;
      }
      // Ours differ from here. Only a committed entry may replace them (then ours are a
      // superseded writer's); the peer's uncommitted ones may be the superseded ones.
      if (entry.id > peer_committed || !store_.truncate_after(entry.id - 1).ok()) break;
      WALLE_COVER(env_, CoveragePath::kFastForwardReplacesSuffix);
    }
    if (absl::Status s = store_.append(entry); !s.ok()) {
      // Our tail does not chain to the committed entry after it: compare from our commit
      // point on, next time.
      if (entry.id == request.from && !verify_) verify_ = true;
      break;
    }
    ++fetched_entries_;
    applied = entry.id;
  }
  // The peer may serve entries it has not seen committed yet (its commit mark was lost in a
  // crash, say): they are committed here only up to the peer's commit point, or up to the
  // target once the chain reaches it with the announced checksum.
  uint64_t commit = std::min(applied, peer_committed);
  const std::optional<storage::EntryHead> at_target = store_.head(target_id_);
  if (applied >= target_id_ && at_target && at_target->checksum == target_checksum_) {
    commit = target_id_;
  }
  // Progress is an entry taken or the commit point raised. Matching entries we already hold
  // is not: two members holding the same superseded uncommitted entry would otherwise verify
  // it against each other forever (found by TailRotScenario, seed 73099).
  const bool progressed = fetched_entries_ > fetched_before || commit > store_.committed_id();
  WALLE_EVENT(env_, "backfill: fetched ", entries.front().id, "..", entries.back().id,
              " from member ", request.peer, " (its commit point ", peer_committed,
              "), holding through ", applied, ", target ", target_id_, verify_ ? " (verify)" : "");
  if (commit > store_.committed_id()) {
    WALLE_EVENT(env_, "backfill: caught up to committed entry ", commit);
    // Every entry up to it is the committed history, and held here (applied, or the target
    // found with its checksum): the store cannot refuse it.
    const absl::Status committed = store_.commit(commit);
    WALLE_CHECK_MSG(committed.ok(), "backfill's commit point is beyond the tail");
  }
  // No progress: another peer, after a refill (our tail's own entry may be missing). Only a
  // mismatch just found retries at once, comparing from the commit point.
  if (!progressed && (was_verifying || !verify_)) return give_up(request);
  sync_then_continue();
}

void Backfill::on_refill(const Request& request, const std::vector<Entry>& entries) {
  WALLE_CHECK(!entries.empty());
  // A reply without an entry past the chain start makes no progress: another peer.
  if (entries.front().id != request.from || entries.size() < 2) return give_up(request);
  WALLE_EVENT(env_, "backfill: refill ", request.from + 1, "..", entries.back().id);
  WALLE_COVER(env_, CoveragePath::kRefill);
  uint64_t previous_checksum = entries.front().checksum;
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    // put_backfill checks the chain from the previous entry and skips ids already here.
    if (!store_.put_backfill(entry, previous_checksum).ok()) return give_up(request);
    ++fetched_entries_;
    previous_checksum = entry.checksum;
  }
  sync_then_continue();
}

void Backfill::sync_then_continue() {
  progressed_();
  // The next chunk waits for this one to be durable: memory stays bounded by one chunk.
  store_.sync([this](absl::Status status) { arm(status.ok() ? 0 : options_.delay_ns); });
}

void Backfill::check_invariants() const {
  // One request at a time, each with its deadline; the next run is armed only while none is
  // out; no peers, no work.
  WALLE_CHECK(request_.has_value() == deadline_.pending());
  WALLE_CHECK(!(request_ && timer_.pending()));
  if (options_.peers.empty()) WALLE_CHECK(!request_ && !timer_.pending());
  if (request_) {
    WALLE_CHECK(request_->id < next_request_id_);
    WALLE_CHECK(std::find(options_.peers.begin(), options_.peers.end(), request_->peer) !=
                options_.peers.end());
    // A fast-forward fetches from past this replica's commit point.
    if (request_->job == Job::kFastForward) WALLE_CHECK(request_->from >= 1);
  }
}

}  // namespace walle::protocol
