#include "sim/workloads/protocol_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "core/wire/codec.h"
#include "sim/workloads/protocol_checker.h"

namespace walle::sim::protocol_workload {

using protocol::ClaimCoordinator;
using protocol::ClaimOptions;
using protocol::ClaimResult;
using protocol::ProtocolMessage;
using protocol::Writer;
using protocol::WriterOptions;

ProtocolClient::ProtocolClient(Env& env, const ClientConfig& config, Checker& checker,
                               std::vector<ProtocolClient*>& registry)
    : env_(env),
      config_(config),
      checker_(checker),
      registry_(registry),
      client_(env),
      reader_(client_.open_reader(protocol::ReaderOptions{config.stream, config.members})) {
  registry_[env_.self] = this;
}

ProtocolClient::~ProtocolClient() { registry_[env_.self] = nullptr; }

const protocol::Writer* ProtocolClient::writer() const { return client_.writer(config_.stream); }

void ProtocolClient::start() {
  schedule_tick(env_.random.uniform_between(0, 20) * kNanosPerMilli);
}

void ProtocolClient::receive(NodeId from, std::string_view bytes) {
  absl::StatusOr<ProtocolMessage> m = wire::decode<ProtocolMessage>(bytes);
  if (!m.ok()) return;
  // The claim's writer id, before its last reply may complete (and retire) it.
  const protocol::ClaimCoordinator* claim = client_.claim_in_progress(config_.stream);
  const std::optional<WriterId> claiming =
      claim != nullptr ? std::optional<WriterId>(claim->writer()) : std::nullopt;
  const client::Routed routed = client_.on_message(from, *m);
  if (routed == client::Routed::kClaim) {
    // An OK to this claim's NewWriter: the member promised its writer (durably).
    const auto* accepted = std::get_if<protocol::NewWriterReply>(&*m);
    if (accepted != nullptr && accepted->status.to_status().ok() && claiming) {
      checker_.on_promise(from, *claiming);
    }
    return;
  }
  if (routed != client::Routed::kWriter) return;
  const Writer* writer = client_.writer(config_.stream);
  const auto* reply = std::get_if<protocol::PutReply>(&*m);
  if (writer != nullptr && reply != nullptr && reply->entry_id > 0 &&
      reply->status.to_status().ok()) {
    // A put's OK follows a sync, which covers the writer change (a heartbeat's does not).
    checker_.on_promise(from, writer->id());
    auto it = checksums_.find(reply->entry_id);
    if (it != checksums_.end()) checker_.on_member_ack(from, it->first, it->second);
  }
  pump();  // commits free room in the pipeline: refill it at once, not at the next tick
}

void ProtocolClient::claim_now(bool preempt) {
  if (stopped_ || client_.claim_in_progress(config_.stream) != nullptr || written_ >= config_.entries) {
    return;
  }
  start_claim(preempt);
}

void ProtocolClient::schedule_tick(int64_t delay_ns) {
  env_.clock.start_timer(delay_ns, [this] { tick(); });
}

void ProtocolClient::tick() {
  schedule_tick(25 * kNanosPerMilli);
  if (stopped_) return;
  const int64_t now = env_.clock.now_ns();
  const Writer* writer = client_.writer(config_.stream);
  if (writer != nullptr && writer->closed()) {
    // Lost to a newer writer: let it work a while before competing again, or two clients
    // would take the stream from each other forever (the original's WaitAndClaim).
    client_.drop_writer(config_.stream, writer->close_reason());
    back_off(now);
  } else if (writer != nullptr && written_ >= config_.entries && writer->idle()) {
    // Done: release the stream (heartbeats stop, the lease runs out) for the others.
    client_.drop_writer(config_.stream, absl::CancelledError("every entry is written"));
  }
  if (reads() && !reader_.busy()) read_next();
  const bool writing = client_.writer(config_.stream) != nullptr;
  // Only a client with work left claims.
  if (client_.claim_in_progress(config_.stream) == nullptr && written_ < config_.entries &&
      now >= next_claim_ns_ &&
      (!writing || env_.random.chance(config_.compete_per_tick))) {
    // Competing with a live writer is a deliberate takeover; otherwise wait for leases.
    start_claim(/*preempt=*/writing);
  }
  pump();
}

// Tails the stream: each read continues where the last ended, waiting for new commits, and
// must chain onto what this client read before.
void ProtocolClient::read_next() {
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

void ProtocolClient::back_off(int64_t now) {
  next_claim_ns_ = now + env_.random.uniform_between(config_.lease_ns, 4 * config_.lease_ns);
}

void ProtocolClient::start_claim(bool preempt) {
  ClaimOptions options{config_.stream,         config_.members, config_.lease_ns, kNanosPerSecond, 5,
                       config_.claim_chunk_bytes};
  options.preempt = preempt;
  WriterOptions writer{config_.stream, config_.members, config_.lease_ns};
  writer.max_in_flight_entries = config_.max_in_flight_entries;
  writer.bug_commit_without_majority = config_.bug_commit_without_majority;
  writer.bug_lease_from_reply = config_.bug_lease_from_reply;
  const absl::Status started = client_.claim(
      std::move(options), std::move(writer), [this](absl::StatusOr<client::Claimed> claimed) {
        if (!claimed.ok()) {
          back_off(env_.clock.now_ns());
          return;
        }
        checker_.on_claimed(claimed->result);
        checksums_.clear();
        if (config_.writer_started != nullptr && *config_.writer_started) {
          (*config_.writer_started)(env_.self);
        }
        pump();
      });
  WALLE_CHECK(started.ok());  // callers start a claim only when none is in progress
}

void ProtocolClient::pump() {
  Writer* w = client_.writer(config_.stream);
  if (w == nullptr || w->closed()) return;
  while (written_ < config_.entries) {
    // Eight random letters, then one letter repeated: entries differ, sizes vary, and
    // making the data no longer costs a fifth of the sweep's time (random bytes did).
    uint64_t bits = env_.random.next_u64();
    std::string data(env_.random.uniform(config_.max_entry_bytes + 1),
                     static_cast<char>('a' + bits % 26));
    for (size_t i = 0; i < std::min<size_t>(8, data.size()); ++i, bits >>= 8) {
      data[i] = static_cast<char>('a' + (bits & 0xff) % 26);
    }
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

void ProtocolClient::check_invariants() const {
  client_.check_invariants();
  // The tail read so far: entries are delivered in id order, each once.
  WALLE_CHECK(read_from_ >= 1);
  WALLE_CHECK(written_ <= config_.entries);
}

}  // namespace walle::sim::protocol_workload
