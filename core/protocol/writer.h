#pragma once

// Writer: the client side of an exclusive writer (docs/protocol.md, "Writer"). Created from
// a successful claim; sends each entry to every member itself (one round trip plus one fsync
// to commit), with many entries in flight.
//
// Contract. put() *accepts* an entry (its id is returned at once) within a bounded budget of
// entries and bytes in flight; its callback reports OK once a majority of members stored it
// durably: it is committed and will survive any later claim. The commit point travels to the
// members on later puts and heartbeats. A kFailedPrecondition from any member means a newer
// writer claimed the stream: the writer closes and fails everything pending with it.
// lease_valid() says whether no other writer can have committed anything yet (under bounded
// clock drift): true until 3/4 lease after the send time of the last request a majority
// acknowledged.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/claim.h"
#include "core/protocol/messages.h"

namespace walle::protocol {

struct WriterOptions {
  std::string stream;
  std::vector<NodeId> members;
  int64_t lease_ns = kNanosPerSecond;
  size_t max_in_flight_entries = 128;
  uint64_t max_in_flight_bytes = 4 << 20;
  int64_t retry_min_ns = 5 * kNanosPerMilli;  // backoff doubles up to lease/4
  int64_t request_timeout_ns = 500 * kNanosPerMilli;
  // Planted bug, for proving that the simulator's checkers catch it: one member's
  // acknowledgement commits an entry.
  bool bug_commit_without_majority = false;
  // Planted bug: the lease counts from when a heartbeat's reply arrived, not from when it was
  // sent, so a delayed reply stretches it past the members' (the lease-interval checker's).
  bool bug_lease_from_reply = false;
  // The first request id (core/protocol/request_ids.h); 0: drawn at random.
  uint64_t first_request_id = 0;
};

class Writer {
 public:
  using PutDone = absl::AnyInvocable<void(absl::Status)>;

  Writer(NetworkEnv& env, WriterOptions options, const ClaimResult& claimed);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // The next entry: returns its id, kResourceExhausted if the in-flight budget is full (retry
  // after some put completes), kFailedPrecondition once closed, kInvalidArgument if too big.
  absl::StatusOr<uint64_t> put(std::string data, PutDone done);

  // Whether an entry of `bytes` fits in the in-flight budget now (put() would not refuse it
  // with kResourceExhausted).
  bool has_room_for(size_t bytes) const;

  // Takes a reply meant for this writer; returns false if it is not one.
  bool on_message(NodeId from, const ProtocolMessage& message);

  // Closes the writer: every pending put fails with `why` (not OK), nothing more is sent.
  void close(absl::Status why);

  bool lease_valid() const;
  bool closed() const { return !close_reason_.ok(); }
  const absl::Status& close_reason() const { return close_reason_; }
  const WriterId& id() const { return writer_; }
  // The last entry acknowledged by a majority (in a put's callback: that put's entry).
  uint64_t committed_id() const { return committed_id_; }
  uint64_t committed_checksum() const { return committed_checksum_; }
  uint64_t tail_id() const { return tail_id_; }
  uint64_t tail_checksum() const { return tail_checksum_; }
  size_t in_flight() const { return in_flight_.size(); }
  // Nothing in flight, and a majority has heard the commit point: the writer can go away
  // without leaving committed entries that the members still take for uncommitted.
  bool idle() const { return in_flight_.empty() && announced_commit_ >= committed_id_; }

  // WALLE_CHECKs the pipeline against the ids, checksums and budget (O(in flight + members));
  // changes nothing.
  void check_invariants() const;

 private:
  struct InFlight {
    Entry entry;
    PutDone done;
    absl::btree_map<NodeId, int64_t> acked_send_ns;  // member -> send time of the acked put
  };
  struct Member {
    explicit Member(Clock& clock) : resend(clock) {}
    int64_t backoff_ns = 0;
    Timer resend;  // the unacknowledged puts go again when it fires
  };
  struct Request {
    NodeId member;
    uint64_t entry_id;  // 0: a heartbeat
    int64_t sent_ns;
  };

  size_t majority() const {
    return options_.bug_commit_without_majority ? 1 : options_.members.size() / 2 + 1;
  }
  void send_put(NodeId member, const Entry& entry);
  void on_put_reply(NodeId from, const Request& request, const PutReply& reply);
  void advance_commit();
  void schedule_resend(NodeId member);
  void resend(NodeId member);
  void send_unacknowledged(NodeId member);
  void heartbeat_tick();

  NetworkEnv& env_;
  WriterOptions options_;
  WriterId writer_;
  uint64_t tail_id_;
  uint64_t tail_checksum_;
  uint64_t committed_id_;
  uint64_t committed_checksum_;
  int64_t lease_start_ns_;          // send time of the last majority-acknowledged request
  uint64_t announced_commit_;       // the commit point some majority-acknowledged request carried
  std::deque<InFlight> in_flight_;  // ids committed_id_+1 .. tail_id_
  uint64_t in_flight_bytes_ = 0;
  absl::btree_map<uint64_t, Request> requests_;  // by request id
  std::map<NodeId, Member> members_;  // node-stable: each holds a Timer
  absl::btree_map<NodeId, std::pair<uint64_t, int64_t>> member_acked_;  // id, its send time
  absl::btree_map<NodeId, int64_t> heartbeat_acks_;                     // current heartbeat round
  uint64_t heartbeat_commit_ = 0;
  uint64_t next_request_id_;
  absl::Status close_reason_;
  Timer heartbeat_timer_;
};

}  // namespace walle::protocol
