#pragma once

// MemberNode: a server process hosting replicas of a fixed set of streams (topology changes
// come later). It opens each stream's store at start, then routes requests by stream name;
// a request for a stream it does not serve gets kNotFound.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/env/env.h"
#include "core/env/node.h"
#include "core/env/timer.h"
#include "core/protocol/messages.h"
#include "core/protocol/stream_replica.h"
#include "core/storage/stream_store.h"

namespace walle::protocol {

struct MemberOptions {
  std::vector<std::string> streams;
  storage::StoreOptions store;
  ReplicaOptions replica;
  // Every stream's members, this node included; the others are the replicas' backfill peers.
  // Empty: the node serves every stream, its replicas knowing no peers (tests of one replica).
  std::vector<NodeId> members;
  // The members of the streams whose set differs from `members` (until topology lives in a
  // root stream). This node opens and serves only the streams it is a member of.
  std::map<std::string, std::vector<NodeId>, std::less<>> stream_members = {};
  // A stream whose store fails to open (disk full, unreadable metadata) is retried after this
  // long, doubling up to max_reopen_ns; meanwhile requests for it get kNotFound.
  int64_t reopen_ns = 100 * kNanosPerMilli;
  int64_t max_reopen_ns = 5 * kNanosPerSecond;
  // Set: every store of this node syncs through one shared journal (core/storage/journal.h),
  // opened and redone before any store; unset: each store syncs its own files.
  std::optional<storage::JournalOptions> journal = {};
  // Stores opened at once at start. Each open is a chain of small dependent disk operations;
  // opened one after another, a server with thousands of streams waits out each chain's round
  // trips to the I/O thread in turn (about 15 ms per stream on a real disk).
  size_t open_parallelism = 32;
};

class MemberNode final : public Node {
 public:
  // The members of `stream` by `options`.
  static const std::vector<NodeId>& members_of(const MemberOptions& options, std::string_view stream);

  MemberNode(Env& env, MemberOptions options);
  ~MemberNode() override;

  void start() override;
  void receive(NodeId from, std::string_view bytes) override;
  // Every hosted replica's (and through it its store's and backfill's).
  void check_invariants() const override;

  // The replica and store of `stream`, or nullptr (not served, or not open yet).
  StreamReplica* replica(std::string_view stream);
  storage::StreamStore* store(std::string_view stream);
  // Why `stream` is not served yet: the last failed open's status (OK once it opened).
  absl::Status open_failure(std::string_view stream) const;
  uint64_t malformed_messages() const { return malformed_messages_; }

 private:
  // The replica options of `stream`: its members, and the others as backfill peers.
  ReplicaOptions replica_options(std::string_view stream) const;
  struct Hosted {
    std::unique_ptr<storage::StreamStore> store;
    std::unique_ptr<StreamReplica> replica;
  };
  void open_journal(int64_t retry_ns);
  // Opens every store, options_.open_parallelism at a time.
  void open_stores();
  // Starts the next store's open, if any is left; each completion starts the next.
  void open_next();
  // Opens `name` alone (a retry after a failed open), then again later if it fails.
  void open_one(const std::string& name, int64_t retry_ns);
  void serve(const std::string& name, std::unique_ptr<storage::StreamStore> store);
  void refuse(NodeId from, const ProtocolMessage& message, const absl::Status& status);

  Env& env_;
  MemberOptions options_;
  // Declared before the stores: destroyed after them, which sync through it.
  std::unique_ptr<storage::Journal> journal_;
  std::map<std::string, Hosted, std::less<>> hosted_;  // ordered: iteration is deterministic
  std::map<std::string, absl::Status, std::less<>> open_failures_;  // streams not open yet
  uint64_t malformed_messages_ = 0;
  size_t next_open_ = 0;     // options_.streams[next_open_] is the next store to open
  size_t opens_ended_ = 0;   // first opens that completed, served or failed
  TimerGroup reopen_timers_;  // retries of streams that failed to open
};

}  // namespace walle::protocol
