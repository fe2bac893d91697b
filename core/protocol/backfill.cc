#include "core/protocol/backfill.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/wire/codec.h"

namespace walle::protocol {

Backfill::Backfill(Env& env, std::string stream, storage::StreamStore& store, ReplicaLog& log,
                   BackfillOptions options, absl::AnyInvocable<void()> progressed)
    : env_(env),
      stream_(std::move(stream)),
      store_(store),
      log_(log),
      options_(std::move(options)),
      progressed_(std::move(progressed)),
      next_peer_(options_.peers.empty() ? 0 : env.random.uniform(options_.peers.size())),
      next_request_id_(env.random.next_u64() >> 1) {}

Backfill::~Backfill() {
  if (timer_) env_.clock.cancel_timer(*timer_);
  if (deadline_) env_.clock.cancel_timer(*deadline_);
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
  if (options_.peers.empty() || request_ || timer_) return;
  timer_ = env_.clock.start_timer(delay_ns, [this] {
    timer_.reset();
    run();
  });
}

void Backfill::run() {
  if (request_) return;
  if (fast_forward_due()) {
    ask(Job::kFastForward, target_id_, target_id_ + 1);
    return;
  }
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
  ask(Job::kRefill, first - 1, std::min(range->second, first + options_.chunk_entries));
}

void Backfill::ask(Job job, uint64_t from, uint64_t to) {
  const NodeId peer = options_.peers[next_peer_ % options_.peers.size()];
  request_ = Request{next_request_id_++, peer, job, from};
  env_.transport.send(peer, wire::encode(ReadRequest{stream_, request_->id, from, to,
                                                     options_.chunk_bytes, false, 0}));
  const uint64_t id = request_->id;
  deadline_ = env_.clock.start_timer(options_.request_timeout_ns, [this, id] {
    deadline_.reset();
    if (request_ && request_->id == id) give_up(*request_);
  });
}

void Backfill::give_up(const Request& request) {
  if (request_ && request_->id == request.id) request_.reset();
  if (deadline_) {
    env_.clock.cancel_timer(*deadline_);
    deadline_.reset();
  }
  ++next_peer_;
  arm(options_.delay_ns);
}

bool Backfill::on_read_reply(NodeId from, const ReadReply& reply) {
  if (!request_ || request_->id != reply.request_id || request_->peer != from) return false;
  const Request request = *request_;
  if (!reply.status.to_status().ok() || reply.entries.empty()) {
    give_up(request);
    return true;
  }
  request_.reset();
  if (deadline_) {
    env_.clock.cancel_timer(*deadline_);
    deadline_.reset();
  }
  if (request.job == Job::kFastForward) {
    on_fast_forward(reply.entries);
  } else {
    on_refill(request, reply.entries);
  }
  return true;
}

void Backfill::on_fast_forward(const std::vector<Entry>& entries) {
  const Entry& entry = entries.front();
  if (entry.id != target_id_ || entry.checksum != target_checksum_ || !fast_forward_due()) {
    // The target moved on meanwhile, or the peer disagrees with the writer's announcement
    // (agreement makes that impossible for a correct peer): look again.
    arm(options_.delay_ns);
    return;
  }
  WALLE_EVENT(env_, "backfill: fast-forward to committed entry ", entry.id);
  PutResult result = log_.fast_forward(entry);
  if (!result.status.ok()) {
    give_up(Request{0, 0, Job::kFastForward, entry.id});
    return;
  }
  ++fetched_entries_;
  sync_then_continue();
}

void Backfill::on_refill(const Request& request, const std::vector<Entry>& entries) {
  // A reply without an entry past the chain start makes no progress: another peer.
  if (entries.front().id != request.from || entries.size() < 2) return give_up(request);
  WALLE_EVENT(env_, "backfill: refill ", request.from + 1, "..", entries.back().id);
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

}  // namespace walle::protocol
