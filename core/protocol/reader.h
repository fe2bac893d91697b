#pragma once

// Reader: reads a stream's committed entries from its members (docs/protocol.md, "Readers").
// Any member serves committed entries without a lease; a member that lacks the data
// (missing ids awaiting backfill, down, slow) is skipped for the next one. A read can wait for
// entries not committed yet (PollStream): read(from, wait) then answers once something at
// `from` is committed on the member asked, or with no entries when the wait ends.
//
// One read at a time; entries come back in id order, each checked to chain from the one
// before it within the reply.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/messages.h"

namespace walle::protocol {

struct ReaderOptions {
  std::string stream;
  std::vector<NodeId> members;
  uint64_t max_bytes = 1 << 20;                       // per read
  int64_t request_timeout_ns = 500 * kNanosPerMilli;  // beyond any wait asked for
  // The first request id (core/protocol/request_ids.h); 0: drawn at random.
  uint64_t first_request_id = 0;
};

// The read a Reader has in progress. At namespace scope: clang 14 cannot default-construct a
// nested struct with member initializers inside std::optional (the fuzz build uses clang).
struct ReaderPendingRead {
  uint64_t from = 0;
  int64_t wait_ns = 0;
  absl::AnyInvocable<void(absl::StatusOr<std::vector<Entry>>)> done;
  uint64_t request_id = 0;
  NodeId member = 0;
  size_t tries = 0;
  absl::Status last_error;
  bool all_beyond_commit = true;
};

class Reader {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<std::vector<Entry>>)>;

  Reader(NetworkEnv& env, ReaderOptions options);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Committed entries from `from` on (at least one, unless nothing is committed there yet on
  // the members asked and the wait ended). kUnavailable once every member failed otherwise;
  // kFailedPrecondition if a read is in progress.
  absl::Status read(uint64_t from, int64_t wait_ns, Done done);
  // Takes a reply meant for this reader; returns false if it is not one.
  bool on_message(NodeId from, const ProtocolMessage& message);
  bool busy() const { return pending_.has_value(); }

  // WALLE_CHECKs the read in progress against its timer and the members; changes nothing.
  void check_invariants() const;

 private:
  using Pending = ReaderPendingRead;
  void ask();
  void next_member(absl::Status why);
  void finish(absl::StatusOr<std::vector<Entry>> result);

  NetworkEnv& env_;
  ReaderOptions options_;
  size_t next_member_ = 0;  // rotates: a member that failed is asked last next time
  uint64_t next_request_id_;
  std::optional<Pending> pending_;
  Timer timer_;  // bounds the request out
};

}  // namespace walle::protocol
