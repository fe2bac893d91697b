#pragma once

// ClaimCoordinator: makes its process the exclusive writer of a stream (docs/protocol.md,
// "Claim"). A state machine: start() sends requests; on_message() takes replies; timers bound
// every phase. It completes once, through `done`.
//
//   info      WriterInfo from a majority: the newest writer id and its lease
//   new       NewWriter(W) to all; a majority must accept (each waited out the old lease)
//   tails     heads of every accepted member's tail; the first majority to answer is Q
//   catch-up  every member of Q reaches the highest committed entry in Q (then tails again)
//   restamp   the tail maximal by (writer, id) is re-stamped with W on its holder first
//   repair    every other member of Q gets that chain from its first divergence, stamped W
//   commit    the chosen tail is committed on all of Q
//
// Every phase talks to members in parallel; a failure after `new` restarts from `tails` with
// whichever majority answers, up to max_attempts. Entry data is fetched only for the
// entries that must be copied, a chunk at a time.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/messages.h"

namespace walle::protocol {

struct ClaimOptions {
  std::string stream;
  std::vector<NodeId> members;
  int64_t lease_ns = kNanosPerSecond;
  int64_t phase_timeout_ns = 2 * kNanosPerSecond;
  int max_attempts = 5;
  uint64_t read_chunk_bytes = 1 << 20;
  // Requests of the current phase that are not answered yet are sent again this often (a
  // member may have been down, or the message lost): a claim slower than a lease invites the
  // next claimant to preempt it. Every request is idempotent.
  int64_t resend_ns = 100 * kNanosPerMilli;
  // Whether to take the stream from a writer (or a claim in progress) whose lease is still
  // live on some member. Without it the claim fails with kUnavailable instead: claimants that
  // keep preempting each other's claims during the lease wait would never finish (livelock).
  bool preempt = false;
  // The first request id (core/protocol/request_ids.h); 0: drawn at random.
  uint64_t first_request_id = 0;
};

struct ClaimResult {
  WriterId writer;
  uint64_t tail_id = 0;  // the writer continues at tail_id + 1
  uint64_t tail_checksum = 0;
};

class ClaimCoordinator {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<ClaimResult>)>;

  ClaimCoordinator(NetworkEnv& env, ClaimOptions options, Done done);
  ClaimCoordinator(const ClaimCoordinator&) = delete;
  ClaimCoordinator& operator=(const ClaimCoordinator&) = delete;

  void start();
  // Takes a reply meant for this claim; returns false if it is not one.
  bool on_message(NodeId from, const ProtocolMessage& message);
  bool finished() const { return phase_ == Phase::kDone; }
  const WriterId& writer() const { return writer_; }

  // WALLE_CHECKs the phase against the sets it needs (majorities, the chosen tail, repairs,
  // requests outstanding); changes nothing. O(members + pending requests).
  void check_invariants() const;

 private:
  enum class Phase { kInfo, kNewWriter, kTails, kCatchUp, kRestamp, kRepair, kCommit, kDone };
  struct Pending {
    NodeId member;
    Phase phase;
    std::string bytes;  // the request, to send again
  };
  // A follower being repaired: entries [next, end] are copied to it, a chunk at a time.
  struct Repair {
    uint64_t next = 0;
    uint64_t end = 0;
    uint64_t outstanding = 0;  // puts awaiting replies
  };

  size_t majority() const { return options_.members.size() / 2 + 1; }
  uint64_t send(NodeId to, Phase phase, auto message);
  void arm_timer(int64_t timeout_ns);
  void arm_resend();
  void resend_unanswered();
  void finish(absl::StatusOr<ClaimResult> result);
  void retry(const absl::Status& why);

  void start_new_writer();
  void start_tails();
  void start_catch_up();
  void start_restamp();
  void start_repair();
  void repair_next_chunk(NodeId follower);
  void start_commit();

  void on_writer_info(NodeId from, const WriterInfoReply& reply);
  void on_new_writer(NodeId from, const NewWriterReply& reply);
  void on_tail(NodeId from, const TailReply& reply);
  void on_read(NodeId from, Phase phase, uint64_t request_id, const ReadReply& reply);
  void on_put(NodeId from, Phase phase, const PutReply& reply);

  NetworkEnv& env_;
  ClaimOptions options_;
  Done done_;
  Phase phase_ = Phase::kInfo;
  int attempt_ = 0;
  WriterId writer_;
  int64_t previous_lease_ns_ = 0;
  int64_t longest_remaining_ns_ = INT64_MIN;
  uint64_t next_request_id_;
  absl::btree_map<uint64_t, Pending> pending_;  // by request id
  Timer timer_;  // bounds the phase
  Timer resend_timer_;

  WriterId newest_seen_;
  absl::btree_set<NodeId> answered_;  // per phase
  absl::btree_set<NodeId> accepted_;  // accepted NewWriter(W)
  // Members whose entries could not be read (corrupt or unreadable): their tails do not count
  // toward Q in later attempts, so a damaged tail never wins (PAR).
  absl::btree_set<NodeId> damaged_;
  absl::btree_map<NodeId, std::vector<EntryHeadMessage>> tails_;  // Q, once a majority
  // Tails of members whose recovery could not tell a torn write from rot (TailDamage::
  // kUncertain): they join Q only once every member of the stream has answered, because then
  // some answering member of every acknowledging majority holds what it acknowledged.
  absl::btree_map<NodeId, std::vector<EntryHeadMessage>> uncertain_tails_;
  uint64_t committed_id_ = 0;                                     // C* once caught up
  uint64_t committed_checksum_ = 0;
  NodeId chosen_ = 0;             // s*
  EntryHeadMessage chosen_tail_;  // E*
  Entry chosen_entry_;            // E* with its data, stamped W
  absl::btree_map<NodeId, Repair> repairs_;
  absl::btree_map<uint64_t, NodeId> read_for_;  // repair read request id -> follower
  size_t puts_outstanding_ = 0;
};

}  // namespace walle::protocol
