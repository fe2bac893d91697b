#include "core/protocol/writer.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "core/protocol/request_ids.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

Writer::Writer(NetworkEnv& env, WriterOptions options, const ClaimResult& claimed)
    : env_(env),
      options_(std::move(options)),
      writer_(claimed.writer),
      tail_id_(claimed.tail_id),
      tail_checksum_(claimed.tail_checksum),
      committed_id_(claimed.tail_id),
      committed_checksum_(claimed.tail_checksum),
      // No lease until a majority acknowledged a request of ours.
      lease_start_ns_(env.clock.now_ns() - options_.lease_ns),
      announced_commit_(claimed.tail_id),
      next_request_id_(first_request_id(options_.first_request_id, env.random)),
      heartbeat_timer_(env.clock) {
  WALLE_CHECK(!options_.members.empty());
  for (NodeId m : options_.members) members_.try_emplace(m, env.clock);
  heartbeat_tick();  // the first heartbeat starts the lease at once
}

bool Writer::lease_valid() const {
  return !closed() && env_.clock.now_ns() < lease_start_ns_ + options_.lease_ns * 3 / 4;
}

bool Writer::has_room_for(size_t bytes) const {
  return in_flight_.size() < options_.max_in_flight_entries &&
         in_flight_bytes_ + bytes <= options_.max_in_flight_bytes;
}

absl::StatusOr<uint64_t> Writer::put(std::string data, PutDone done) {
  if (closed()) return close_reason_;
  if (data.size() > kMaxEntryDataBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry of ", data.size(), " bytes exceeds ", kMaxEntryDataBytes));
  }
  if (!has_room_for(data.size())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        in_flight_.size(), " entries (", in_flight_bytes_, " bytes) are in flight; wait for one"));
  }
  Entry entry{tail_id_ + 1, writer_, chain_checksum(tail_checksum_, data), std::move(data)};
  tail_id_ = entry.id;
  tail_checksum_ = entry.checksum;
  in_flight_bytes_ += entry.data.size();
  in_flight_.push_back(InFlight{std::move(entry), std::move(done), {}});
  for (NodeId m : options_.members) send_put(m, in_flight_.back().entry);
  return tail_id_;
}

void Writer::send_put(NodeId member, const Entry& entry) {
  WALLE_CHECK(entry.id > committed_id_ && entry.id <= tail_id_);  // only entries in flight
  WALLE_CHECK(members_.contains(member));
  const uint64_t id = next_request_id_++;
  requests_[id] = Request{member, entry.id, env_.clock.now_ns()};
  env_.transport.send(member,
                      wire::encode(PutRequest{options_.stream, id, writer_, committed_id_,
                                              committed_checksum_, entry, options_.lease_ns}));
}

bool Writer::on_message(NodeId from, const ProtocolMessage& message) {
  const auto* reply = std::get_if<PutReply>(&message);
  if (reply == nullptr) return false;
  auto it = requests_.find(reply->request_id);
  if (it == requests_.end() || it->second.member != from) return false;
  const Request request = it->second;
  requests_.erase(it);
  if (!closed()) on_put_reply(from, request, *reply);
  return true;
}

void Writer::on_put_reply(NodeId from, const Request& request, const PutReply& reply) {
  WALLE_CHECK(request.member == from && !closed());  // on_message matched it
  const absl::Status status = reply.status.to_status();
  if (status.code() == absl::StatusCode::kFailedPrecondition ||
      status.code() == absl::StatusCode::kInvalidArgument) {
    close(absl::FailedPreconditionError(
        absl::StrCat("writer of ", options_.stream, " lost exclusivity: ", status.message())));
    return;
  }
  if (request.entry_id == 0) {  // a heartbeat
    if (!status.ok()) return;   // the next tick tries again
    heartbeat_acks_[from] = options_.bug_lease_from_reply ? env_.clock.now_ns() : request.sent_ns;
    if (heartbeat_acks_.size() >= majority()) {
      int64_t earliest = INT64_MAX;
      for (const auto& [m, sent] : heartbeat_acks_) earliest = std::min(earliest, sent);
      lease_start_ns_ = std::max(lease_start_ns_, earliest);
      announced_commit_ = std::max(announced_commit_, heartbeat_commit_);
      heartbeat_acks_.clear();
    }
    return;
  }
  if (!status.ok()) {
    schedule_resend(from);  // kOutOfRange, kUnavailable, ...: again, with backoff
    return;
  }
  members_.at(from).backoff_ns = 0;
  auto& acked = member_acked_[from];
  if (request.entry_id > acked.first) acked = {request.entry_id, request.sent_ns};
  advance_commit();
}

void Writer::advance_commit() {
  // A member that stored entry k holds our whole chain up to k (it chains by checksum), so
  // the commit point is the largest id that a majority of members acknowledged at or above.
  if (member_acked_.size() < majority()) return;
  // On the stack: this runs for every acknowledgement.
  absl::InlinedVector<std::pair<uint64_t, int64_t>, 7> acks;
  for (const auto& [m, ack] : member_acked_) acks.push_back(ack);
  std::sort(acks.begin(), acks.end(), std::greater<>());
  const uint64_t commit = acks[majority() - 1].first;
  // Its lease basis: a majority received requests sent at or after the majority-th newest
  // send time among their latest acknowledgements.
  absl::InlinedVector<int64_t, 7> sends;
  for (const auto& ack : acks) sends.push_back(ack.second);
  std::sort(sends.begin(), sends.end(), std::greater<>());
  lease_start_ns_ = std::max(lease_start_ns_, sends[majority() - 1]);
  while (!in_flight_.empty() && in_flight_.front().entry.id <= commit) {
    InFlight done = std::move(in_flight_.front());
    in_flight_.pop_front();
    in_flight_bytes_ -= done.entry.data.size();
    committed_id_ = done.entry.id;
    committed_checksum_ = done.entry.checksum;
    done.done(absl::OkStatus());
    if (closed()) return;
  }
}

void Writer::schedule_resend(NodeId member) {
  WALLE_CHECK(members_.contains(member));
  Member& m = members_.at(member);
  if (m.resend.pending()) return;
  m.backoff_ns = std::clamp(m.backoff_ns * 2, options_.retry_min_ns,
                            std::max(options_.retry_min_ns, options_.lease_ns / 4));
  // Jitter keeps members' retries apart.
  int64_t delay =
      m.backoff_ns / 2 +
      static_cast<int64_t>(env_.random.uniform(static_cast<uint64_t>(m.backoff_ns / 2) + 1));
  if (WALLE_BUGGIFY(env_.buggify, kBuggifyDelayedResend)) delay *= 4;
  m.resend.start(delay, [this, member] { resend(member); });
}

void Writer::resend(NodeId member) {
  if (closed()) return;
  send_unacknowledged(member);
}

void Writer::send_unacknowledged(NodeId member) {
  // Everything the member has not acknowledged, in id order (it applies them in order).
  const uint64_t acked = member_acked_.contains(member) ? member_acked_.at(member).first : 0;
  for (const InFlight& f : in_flight_) {
    if (f.entry.id > acked) send_put(member, f.entry);
  }
}

void Writer::close(absl::Status why) {
  WALLE_CHECK(!why.ok());
  if (closed()) return;
  WALLE_EVENT(env_, "writer ", writer_.ts, ".", writer_.id % 10000, " closed: ", why.message());
  close_reason_ = why;
  std::deque<InFlight> failed = std::move(in_flight_);
  in_flight_.clear();
  in_flight_bytes_ = 0;
  for (InFlight& f : failed) f.done(why);
}

void Writer::heartbeat_tick() {
  if (closed()) return;
  const int64_t now = env_.clock.now_ns();
  // Requests unanswered for too long are treated as failed: resend to that member.
  std::vector<uint64_t> expired;
  for (const auto& [id, request] : requests_) {
    if (now - request.sent_ns >= options_.request_timeout_ns) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    const Request request = requests_.at(id);
    requests_.erase(id);
    if (request.entry_id != 0) schedule_resend(request.member);
  }
  // Early: every unacknowledged put again, while the first copies may still arrive.
  if (WALLE_BUGGIFY(env_.buggify, kBuggifyEarlyResend)) {
    for (NodeId m : options_.members) send_unacknowledged(m);
  }
  // A heartbeat when the lease needs renewing, or when the commit point has not been
  // announced and no put is going to carry it.
  const bool lease_due = now - lease_start_ns_ >= options_.lease_ns / 4;
  const bool commit_unannounced = announced_commit_ < committed_id_ && in_flight_.empty();
  if (lease_due || commit_unannounced) {
    heartbeat_acks_.clear();
    heartbeat_commit_ = committed_id_;
    for (NodeId m : options_.members) {
      const uint64_t id = next_request_id_++;
      requests_[id] = Request{m, 0, now};
      Entry heartbeat;
      heartbeat.writer = writer_;
      env_.transport.send(
          m, wire::encode(PutRequest{options_.stream, id, writer_, committed_id_,
                                     committed_checksum_, heartbeat, options_.lease_ns}));
    }
  }
  int64_t next_tick_ns = std::max<int64_t>(options_.lease_ns / 8, kNanosPerMilli);
  // Late: the lease may lapse before it is renewed (the writer then stops trusting it).
  if (WALLE_BUGGIFY(env_.buggify, kBuggifyHeartbeatJitter)) next_tick_ns *= 6;
  heartbeat_timer_.start(next_tick_ns, [this] { heartbeat_tick(); });
}

void Writer::check_invariants() const {
  WALLE_CHECK(committed_id_ <= tail_id_);
  // A commit point is announced only once it is ours.
  WALLE_CHECK(announced_commit_ <= committed_id_);
  WALLE_CHECK(heartbeat_commit_ <= committed_id_);
  WALLE_CHECK(heartbeat_acks_.size() < majority());  // a majority closes the round
  WALLE_CHECK(member_acked_.size() <= members_.size());
  WALLE_CHECK(in_flight_.size() <= options_.max_in_flight_entries);
  WALLE_CHECK(in_flight_bytes_ <= options_.max_in_flight_bytes);
  if (closed()) {
    WALLE_CHECK(in_flight_.empty() && in_flight_bytes_ == 0);  // close() failed them all
    return;
  }
  // In flight: exactly the ids committed_id_+1 .. tail_id_, the last one the tail.
  WALLE_CHECK(in_flight_.size() == tail_id_ - committed_id_);
  if (!in_flight_.empty()) {
    WALLE_CHECK(in_flight_bytes_ >= in_flight_.back().entry.data.size());
    WALLE_CHECK(in_flight_.front().entry.id == committed_id_ + 1);
    WALLE_CHECK(in_flight_.back().entry.id == tail_id_);
    WALLE_CHECK(in_flight_.back().entry.checksum == tail_checksum_);
  } else {
    WALLE_CHECK(tail_checksum_ == committed_checksum_ && in_flight_bytes_ == 0);
  }
  // A member acknowledges only entries this writer sent.
  for (const auto& [member, ack] : member_acked_) {
    WALLE_CHECK(members_.contains(member));
    WALLE_CHECK(ack.first <= tail_id_);
  }
}

}  // namespace walle::protocol
