#pragma once

// Backfill: brings one replica's committed history up to date from its peers
// (docs/protocol.md, "Backfill"). Two jobs, one request in flight at a time:
//
//   fast-forward  the writer announced a commit point this replica cannot apply (it lacks
//                 the entries, or holds foreign uncommitted ones): fetch the committed entries
//                 after its tail from a peer and append them; if the tail turns out foreign,
//                 compare from the commit point and replace only what differs. Nothing this
//                 replica holds of the committed history is dropped: it may be the copy that
//                 keeps an acknowledged entry on a majority. Without it a member that fell
//                 behind never caught up while the writer lived (the writer keeps only
//                 uncommitted entries).
//   refill        committed ids missing here (jumped over by a gap commit or a fast-forward,
//                 or lost to corruption) are fetched in ascending chunks and stored with
//                 put_backfill, each one checked to chain from its predecessor.
//
// Peers serve only committed entries, which agreement makes the same everywhere. A failed or
// timed-out request moves on to the next peer.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/messages.h"
#include "core/storage/stream_store.h"

namespace walle::protocol {

struct BackfillOptions {
  std::vector<NodeId> peers;  // the stream's other members; empty: no backfill
  // How long an announced commit point may stay unapplied before it is fetched: puts in
  // flight usually bring the entry first.
  int64_t delay_ns = 100 * kNanosPerMilli;
  int64_t request_timeout_ns = 500 * kNanosPerMilli;
  uint64_t chunk_bytes = 256 << 10;
  uint64_t chunk_entries = 256;
  // Anti-entropy: this often (jittered) an idle replica asks a peer for its commit point, so a
  // member learns of commits no writer announced to it (the writer went away first) and the
  // committed entries spread back to every member. 0 turns it off.
  int64_t probe_ns = 1 * kNanosPerSecond;
};

class Backfill {
 public:
  // `progressed` runs once fetched entries are in the store, before their sync (queued puts
  // may now apply: each is acknowledged only after a sync, which covers these entries too).
  Backfill(Env& env, std::string stream, storage::StreamStore& store, BackfillOptions options,
           absl::AnyInvocable<void()> progressed);
  Backfill(const Backfill&) = delete;
  Backfill& operator=(const Backfill&) = delete;

  // The writer says entry `id` with `checksum` is committed.
  void note_commit(uint64_t id, uint64_t checksum);
  // Something may be missing now (a gap commit, a failed read): look soon.
  void wake();
  // Take replies to our own requests; return false if it is not one.
  bool on_read_reply(NodeId from, const ReadReply& reply);
  bool on_writer_info_reply(NodeId from, const WriterInfoReply& reply);

  // The newest commit point announced to this replica (it may not have reached it yet).
  uint64_t known_commit() const { return target_id_; }
  uint64_t fetched_entries() const { return fetched_entries_; }

  // WALLE_CHECKs the request and its timers (one request at a time); changes nothing.
  void check_invariants() const;

 private:
  // kProbeInfo asks a peer for its commit point, kProbeEntry reads that entry (its checksum
  // makes it a target like a writer's announcement).
  enum class Job { kFastForward, kRefill, kProbeInfo, kProbeEntry };
  struct Request {
    uint64_t id;
    NodeId peer;
    Job job;
    uint64_t from;  // first entry id asked for
  };

  bool fast_forward_due() const;
  void arm_probe();
  void probe();
  void finish_request();
  void resume();
  // Runs the backfill within delay_ns (an earlier run already armed stands).
  void arm(int64_t delay_ns);
  void run();
  void ask(Job job, uint64_t from, uint64_t to);
  void on_fast_forward(const Request& request, const std::vector<Entry>& entries,
                       uint64_t peer_committed);
  void on_refill(const Request& request, const std::vector<Entry>& entries);
  // The request failed: the next peer, after a pause.
  void give_up(const Request& request);
  void sync_then_continue();

  Env& env_;
  std::string stream_;
  storage::StreamStore& store_;
  BackfillOptions options_;
  absl::AnyInvocable<void()> progressed_;
  uint64_t target_id_ = 0;  // the newest commit point the writer announced
  uint64_t target_checksum_ = 0;
  size_t next_peer_ = 0;
  bool verify_ = false;  // fast-forward compares from the commit point (our tail was foreign)
  // A refill goes before the next fast-forward: they take turns while both have work.
  bool refill_next_ = false;
  uint64_t next_request_id_;
  std::optional<Request> request_;
  Timer timer_;     // the next run
  Timer deadline_;  // of request_
  Timer probe_timer_;
  uint64_t fetched_entries_ = 0;
};

}  // namespace walle::protocol
