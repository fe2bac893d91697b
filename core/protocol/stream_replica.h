#pragma once

// StreamReplica: one member's side of one stream (docs/protocol.md, "Replica"). A state
// machine driven by decoded requests, timers and storage completions; it replies through the
// env's transport and never blocks.
//
// A put is answered OK only once the entry is durable here (the store's sync covering it
// succeeded). Puts that arrive ahead of the tail wait in a bounded ordering queue until their
// predecessor is applied (by later puts, or by backfill when the sender's commit point is
// ahead of this replica); nothing waits longer than `max_wait_ns`.

#include <cstdint>
#include <string>

#include "absl/container/btree_map.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/backfill.h"
#include "core/protocol/claim.h"
#include "core/protocol/messages.h"
#include "core/protocol/replica_counters.h"
#include "core/protocol/replica_log.h"
#include "core/storage/stream_store.h"

namespace walle::protocol {

struct ReplicaOptions {
  // After a restart the last lease renewal is unknown. A member that is down grants nothing,
  // so the last one happened before the restart: the replica waits out the longest lease it
  // ever granted (kept in the stream metadata) from the restart, plus this grace (the
  // original's ReconnectDelay was 5 s; our argument needs none, so it is margin only).
  int64_t restart_lease_grace_ns = 0;
  size_t max_queued_puts = 4096;
  size_t max_waiting_reads = 1024;                  // polls parked until something commits
  // Reads being served from the store at once (polls that become ready not counted: they
  // are bounded above); more are refused with kResourceExhausted. Without it a client that
  // floods reads grows the disk queue without bound and every sync waits behind it.
  size_t max_reads_in_flight = 64;
  // And the bytes they may return together (each read counts its max_bytes, up to this):
  // a read's entries, and its encoded reply, are in memory until it is sent.
  uint64_t max_read_bytes_in_flight = 8 << 20;
  int64_t max_read_wait_ns = 30 * kNanosPerSecond;  // longer waits are cut to this
  int64_t max_wait_ns = 1 * kNanosPerSecond;

  // Planted bugs, for proving that the simulator's checkers catch them. Never set outside
  // tests and the sweep's bug_* parameters.
  bool bug_ack_before_sync = false;      // reply OK before the entry is durable
  bool bug_accept_older_writer = false;  // skip the writer check

  BackfillOptions backfill;  // its peers: the stream's other members

  // No-writer resolver: when the stream has uncommitted entries and the writer's lease ran out
  // this long ago (the writer died), this replica claims the stream itself, with lease 0 and
  // without preempting, so that the entries are committed or discarded and readers see them.
  // Checked at a jittered interval; 0 turns it off. Members take turns: the k-th member (0
  // first) waits (k + 1) x this, doubled after each failed attempt (up to 16x), so that their
  // resolvers do not preempt one another (StreamReplica::resolve_wait_ns).
  int64_t resolve_after_ns = 2 * kNanosPerSecond;
  std::vector<NodeId> members;  // every member of the stream, this one included
};

class StreamReplica {
 public:
  StreamReplica(Env& env, storage::StreamStore& store, const ReplicaOptions& options = {});
  StreamReplica(const StreamReplica&) = delete;
  StreamReplica& operator=(const StreamReplica&) = delete;

  void on_put(NodeId from, const PutRequest& request);
  void on_new_writer(NodeId from, const NewWriterRequest& request);
  void on_writer_info(NodeId from, const WriterInfoRequest& request);
  void on_tail(NodeId from, const TailRequest& request);
  void on_read(NodeId from, const ReadRequest& request);
  // Replies to this replica's own requests (backfill reads, the resolver's claim); false if
  // not one of them.
  bool on_reply(NodeId from, const ProtocolMessage& reply);

  // Remaining lease of the current writer as this replica measures it (negative: expired).
  int64_t remaining_lease_ns() const;
  // Whether a writer newer than `writer` that asked now would have to wait: the lease this
  // replica protects for `writer` (or for a writer it has not heard of yet) still runs, or
  // the newer writer stored here still waits out the old lease. Checkers compare it with the
  // writer's own view of its lease.
  bool protects_lease_of(const WriterId& writer) const;
  size_t queued_puts() const { return queue_.size(); }
  size_t waiting_reads() const { return polls_.size(); }
  size_t reads_in_flight() const { return reads_in_flight_; }
  const ReplicaCounters& counters() const { return counters_; }
  const storage::StreamStore& store() const { return store_; }
  const Backfill& backfill() const { return backfill_; }

  // WALLE_CHECKs the ordering queue, the parked polls and their timers, then the parts'
  // (store, backfill, resolver); changes nothing.
  void check_invariants() const;

 private:
  struct Waiting {
    NodeId from;
    PutRequest request;
    int64_t arrived_ns;
  };

  void reply_put(NodeId to, const PutRequest& request, const absl::Status& status);
  void apply(NodeId from, const PutRequest& request);
  void drain_queue();
  void enqueue(NodeId from, const PutRequest& request);
  void arm_queue_timer();
  int64_t queue_wait_ns();
  void on_queue_timer();
  void clear_damage_once_repaired();
  void arm_resolver();
  void maybe_resolve();
  // How long after the lease ran out this replica's resolver claims (see resolve_after_ns).
  int64_t resolve_wait_ns() const;
  void adopt_writer(WriterId writer, int64_t lease_ns, absl::AnyInvocable<void(absl::Status)> done);
  // Reads: served from the store; a poll past the commit point waits in polls_.
  void serve_read(NodeId from, const ReadRequest& request);
  void serve_polls();
  void on_poll_timer();

  Env& env_;
  storage::StreamStore& store_;
  ReplicaLog log_;
  ReplicaOptions options_;
  int64_t lease_renewed_ns_;  // local clock
  // When the stored writer's NewWriter may be answered: the previous writer's lease has run
  // out here by then (a retried NewWriter must wait as long as the first).
  int64_t new_writer_ready_ns_;
  absl::btree_map<uint64_t, Waiting> queue_;  // puts ahead of the tail, by entry id
  Timer queue_timer_;  // while puts wait in the queue
  Backfill backfill_;
  struct Poll {
    NodeId from;
    ReadRequest request;
    int64_t deadline_ns;
  };
  std::vector<Poll> polls_;
  Timer poll_timer_;  // due no later than the earliest poll deadline
  std::unique_ptr<ClaimCoordinator> resolver_;
  int resolve_failures_ = 0;  // resolver claims failed in a row
  int64_t next_resolve_ns_ = 0;  // no resolver claim starts before this (backoff)
  Timer resolver_timer_;
  TimerGroup answer_timers_;  // NewWriter answers that wait out the old lease; resolver's end
  void arm_poll_timer(int64_t at_ns);
  // Every read reply goes out here (counted).
  void reply_read(NodeId to, const ReadReply& reply);
  // What a read may return, and holds of max_read_bytes_in_flight while it runs.
  uint64_t read_budget(const ReadRequest& request) const;
  ReplicaCounters counters_;
  size_t reads_in_flight_ = 0;
  uint64_t read_bytes_in_flight_ = 0;  // the budget the reads in flight hold
};

}  // namespace walle::protocol
