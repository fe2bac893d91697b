#include "core/protocol/member_node.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

MemberNode::MemberNode(Env& env, MemberOptions options)
    : env_(env), options_(std::move(options)), reopen_timers_(env.clock) {
  options_.store.buggify = env_.buggify;  // the store has no Env: it gets the one route here
  if (options_.journal) options_.journal->coverage = env_.coverage;
  // The streams this node is a member of, in the configured order.
  std::vector<std::string> mine;
  for (const std::string& stream : options_.streams) {
    const std::vector<NodeId>& members = members_of(options_, stream);
    // No member list at all: the node serves the stream and its replica knows no peers (tests
    // of one replica).
    if (members.empty() || std::find(members.begin(), members.end(), env_.self) != members.end()) {
      mine.push_back(stream);
    }
  }
  options_.streams = std::move(mine);
}

const std::vector<NodeId>& MemberNode::members_of(const MemberOptions& options,
                                                  std::string_view stream) {
  const auto it = options.stream_members.find(stream);
  return it == options.stream_members.end() ? options.members : it->second;
}

ReplicaOptions MemberNode::replica_options(std::string_view stream) const {
  ReplicaOptions replica = options_.replica;
  replica.members = members_of(options_, stream);
  replica.backfill.peers.clear();
  for (NodeId m : replica.members) {
    if (m != env_.self) replica.backfill.peers.push_back(m);
  }
  return replica;
}

MemberNode::~MemberNode() = default;

void MemberNode::start() {
  // Without a journal of its own, a directory last served with one still has it redone first
  // (acknowledged bytes may be there only), then removed.
  if (!options_.journal && !storage::Journal::exists_in(env_.files)) return open_stores();
  open_journal(options_.reopen_ns);
}

// The journal first: its redo completes every store's files before any store reads them.
// A journal that cannot open (disk full, an I/O error) is retried, doubling, like a store.
void MemberNode::open_journal(int64_t retry_ns) {
  storage::Journal::open(
      env_.files, options_.journal.value_or(storage::JournalOptions{}),
      [this, retry_ns](absl::StatusOr<std::unique_ptr<storage::Journal>> journal) {
        if (!journal.ok()) {
          WALLE_EVENT(env_, "member: cannot open the journal: ", journal.status().message());
          reopen_timers_.start(retry_ns, [this, retry_ns] {
            open_journal(std::min(2 * retry_ns, options_.max_reopen_ns));
          });
          return;
        }
        journal_ = std::move(*journal);
        const storage::JournalRecovery& r = journal_->recovery();
        if (r.redone_writes > 0) WALLE_COVER(env_, CoveragePath::kJournalRedo);
        WALLE_EVENT(env_, "member: journal open: ", r.records, " records, ", r.redone_writes,
                    " writes redone into ", r.redone_files, " files, ", r.skipped_writes,
                    " skipped, torn tail ", r.torn_tail_bytes);
        if (options_.journal) {
          options_.store.journal = journal_.get();
          return open_stores();
        }
        journal_->remove([this](absl::Status status) {
          if (!status.ok()) WALLE_EVENT(env_, "member: cannot remove the old journal: ", status.message());
          journal_.reset();
          open_stores();
        });
      });
}

void MemberNode::open_stores() {
  WALLE_CHECK(options_.open_parallelism > 0);
  for (size_t i = 0; i < options_.open_parallelism; ++i) open_next();
}

void MemberNode::open_next() {
  if (next_open_ == options_.streams.size()) return;
  const std::string name = options_.streams[next_open_++];
  storage::StreamStore::open(
      env_.files, name, options_.store,
      [this, name](absl::StatusOr<std::unique_ptr<storage::StreamStore>> store) {
        // A store that cannot open (disk full, rotten metadata) is not served for now;
        // requests for it get kNotFound and peers work around it until a retry succeeds.
        if (store.ok()) {
          serve(name, std::move(*store));
        } else {
          WALLE_EVENT(env_, "member: cannot open ", name, ": ", store.status().message());
          open_failures_[name] = store.status();
          open_one(name, options_.reopen_ns);
        }
        WALLE_CHECK(opens_ended_ < next_open_);
        if (++opens_ended_ == options_.streams.size()) {
          WALLE_EVENT(env_, "member: every store's first open ended: ", hosted_.size(), " of ",
                      options_.streams.size(), " served");
        }
        open_next();
      });
}

void MemberNode::open_one(const std::string& name, int64_t retry_ns) {
  reopen_timers_.start(retry_ns, [this, name, retry_ns] {
    storage::StreamStore::open(
        env_.files, name, options_.store,
        [this, name, retry_ns](absl::StatusOr<std::unique_ptr<storage::StreamStore>> store) {
          if (store.ok()) return serve(name, std::move(*store));
          open_failures_[name] = store.status();
          open_one(name, std::min(2 * retry_ns, options_.max_reopen_ns));
        });
  });
}

absl::Status MemberNode::open_failure(std::string_view stream) const {
  const auto it = open_failures_.find(stream);
  return it == open_failures_.end() ? absl::OkStatus() : it->second;
}

void MemberNode::serve(const std::string& name, std::unique_ptr<storage::StreamStore> store) {
  open_failures_.erase(name);
  const storage::RecoveryReport& r = store->recovery_report();
  WALLE_EVENT(env_, "member: serving ", name, " committed ", store->committed_id(), " tail ",
              store->tail_id(), " missing ", store->missing().to_string(),
              " (recovery: ", r.describe(), ")");
  if (r.torn_tail_bytes > 0) WALLE_COVER(env_, CoveragePath::kRecoveryTornTail);
  if (r.dropped_uncommitted_entries > 0) WALLE_COVER(env_, CoveragePath::kRecoveryUncommittedHole);
  if (!r.corrupt_committed.empty()) WALLE_COVER(env_, CoveragePath::kRecoveryCommittedHole);
  if (r.tail_damage() == storage::TailDamage::kUncertain) {
    WALLE_COVER(env_, CoveragePath::kRecoveryUncertain);
  }
  if (r.tail_damage() == storage::TailDamage::kRot) WALLE_COVER(env_, CoveragePath::kRecoveryRot);
  if (r.unreadable_bytes > 0) WALLE_COVER(env_, CoveragePath::kRecoveryUnreadable);
  WALLE_CHECK_MSG(!hosted_.contains(name), "a stream opened twice");  // one replica per store
  Hosted& h = hosted_[name];
  h.store = std::move(store);
  h.replica = std::make_unique<StreamReplica>(env_, *h.store, replica_options(name));
}

StreamReplica* MemberNode::replica(std::string_view stream) {
  if (hosted_.size() == 1) {  // the usual case, and the simulator's checkers ask every step
    Hosted& only = hosted_.begin()->second;
    return hosted_.begin()->first == stream ? only.replica.get() : nullptr;
  }
  auto it = hosted_.find(stream);
  return it == hosted_.end() ? nullptr : it->second.replica.get();
}

storage::StreamStore* MemberNode::store(std::string_view stream) {
  auto it = hosted_.find(stream);
  return it == hosted_.end() ? nullptr : it->second.store.get();
}

void MemberNode::refuse(NodeId from, const ProtocolMessage& message, const absl::Status& status) {
  const WireStatus wire_status = WireStatus::from(status);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PutRequest>) {
          env_.transport.send(
              from, wire::encode(PutReply{m.stream, m.request_id, m.entry.id, wire_status}));
        } else if constexpr (std::is_same_v<T, NewWriterRequest>) {
          env_.transport.send(from,
                              wire::encode(NewWriterReply{m.stream, m.request_id, wire_status}));
        } else if constexpr (std::is_same_v<T, WriterInfoRequest>) {
          WriterInfoReply reply;
          reply.stream = m.stream;
          reply.request_id = m.request_id;
          reply.status = wire_status;
          env_.transport.send(from, wire::encode(reply));
        } else if constexpr (std::is_same_v<T, TailRequest>) {
          env_.transport.send(
              from, wire::encode(TailReply{m.stream, m.request_id, wire_status, {}}));
        } else if constexpr (std::is_same_v<T, ReadRequest>) {
          env_.transport.send(from,
                              wire::encode(ReadReply{m.stream, m.request_id, wire_status, {}, 0}));
        }
        // Replies are not answered.
      },
      message);
}

void MemberNode::receive(NodeId from, std::string_view bytes) {
  absl::StatusOr<ProtocolMessage> message = wire::decode<ProtocolMessage>(bytes);
  if (!message.ok()) {
    ++malformed_messages_;  // nothing to answer: the sender's request id is unknown
    return;
  }
  const std::string& stream =
      std::visit([](const auto& m) -> const std::string& { return m.stream; }, *message);
  StreamReplica* r = replica(stream);
  if (r == nullptr) {
    const bool hosted = hosted_.contains(stream);
    refuse(from, *message,
           absl::NotFoundError(hosted ? absl::StrCat("stream '", stream,
                                                     "' is not open here yet (its recovery runs, "
                                                     "or its store failed to open: see the log)")
                                      : absl::StrCat("stream '", stream, "' is not served here")));
    return;
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PutRequest>) r->on_put(from, m);
        if constexpr (std::is_same_v<T, NewWriterRequest>) r->on_new_writer(from, m);
        if constexpr (std::is_same_v<T, WriterInfoRequest>) r->on_writer_info(from, m);
        if constexpr (std::is_same_v<T, TailRequest>) r->on_tail(from, m);
        if constexpr (std::is_same_v<T, ReadRequest>) r->on_read(from, m);
        if constexpr (std::is_same_v<T, PutReply> || std::is_same_v<T, NewWriterReply> ||
                      std::is_same_v<T, WriterInfoReply> || std::is_same_v<T, TailReply> ||
                      std::is_same_v<T, ReadReply>) {
          r->on_reply(from, *message);
        }
      },
      *message);
}

void MemberNode::check_invariants() const {
  if (journal_ != nullptr) journal_->check_invariants();
  for (const auto& [name, hosted] : hosted_) {
    WALLE_CHECK(hosted.store != nullptr && hosted.replica != nullptr);
    WALLE_CHECK(hosted.store->name() == name);
    hosted.replica->check_invariants();
  }
}

}  // namespace walle::protocol
