#pragma once

// The protocol workload's checker: every invariant, judged as events happen (durability,
// agreement, exclusivity, lease safety; member durability across crashes). The first
// violation is kept and fails the seed.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/protocol/claim.h"
#include "core/protocol/stream_replica.h"
#include "core/storage/stream_store.h"
#include "sim/simulation.h"

namespace walle::sim::protocol_workload {

inline constexpr const char* kStream = "s";

using protocol::ClaimResult;

class ProtocolClient;

// The member's store of `stream`; nullptr while it is down or recovering.
storage::StreamStore* member_store(Simulation& sim, NodeId node, const std::string& stream = kStream);
// Why the member does not serve `stream`: its last failed open (OK if none).
absl::Status member_open_failure(Simulation& sim, NodeId node, const std::string& stream = kStream);

// Every invariant, checked as events happen; the first violation is kept.
class Checker {
 public:
  // Members in `corruptible` may lose what they acknowledged to corruption (the budget).
  // Without `judge_leases` (clocks drifting past the lease bound, where a lease promises
  // nothing) the lease checks are off; every other check holds whatever the clocks do.
  // One checker judges one stream: its clients' acknowledgements and reads, its replicas.
  Checker(Simulation& sim, absl::btree_set<NodeId> corruptible, bool judge_leases = true,
          std::string stream = kStream)
      : sim_(sim),
        corruptible_(std::move(corruptible)),
        judge_leases_(judge_leases),
        stream_(std::move(stream)) {}
  const std::string& stream() const { return stream_; }

  void on_claimed(const protocol::ClaimResult& result) {
    // Durability: a claim adopts every entry older writers had acknowledged before it
    // completed. (A newer writer may have overtaken a slow claim: that claim's writer is then
    // superseded and its puts are refused.)
    for (const auto& [id, acked] : acked_) {
      if (id > result.tail_id && acked.second < result.writer) {
        fail(absl::StrCat("durability: a claim by writer ", result.writer.ts, ".", result.writer.id,
                          " ended at tail ", result.tail_id, " but entry ", id,
                          " was acknowledged before"));
        break;
      }
    }
    claims_.push_back(result);
  }

  void on_acked(WriterId writer, uint64_t id, uint64_t checksum,
                const std::vector<ProtocolClient*>& clients, NodeId self);

  // Agreement as readers see it: a committed entry read from any member is the one
  // acknowledged at that id, and every reader sees the same entry there.
  void on_read(NodeId reader, const Entry& entry) {
    auto [it, inserted] = read_.try_emplace(entry.id, entry.checksum);
    if (!inserted && it->second != entry.checksum) {
      return fail(absl::StrCat("agreement: client ", reader, " read entry ", entry.id,
                               " different from what another read there"));
    }
    auto acked = acked_.find(entry.id);
    if (acked != acked_.end() && acked->second.first != entry.checksum) {
      fail(absl::StrCat("agreement: client ", reader, " read entry ", entry.id,
                        " different from the acknowledged one"));
    }
  }
  uint64_t entries_read() const { return read_.size(); }

  void fail(std::string message) {
    if (status_.ok()) {
      status_ = absl::InternalError(
          absl::StrCat("at ", absl::StrFormat("%.6f", sim_.now_ns() / 1e9), "s: ", message));
    }
  }
  // Member durability: a member's OK to a put means the entry is durable there, so a crash
  // must not take it away (unless the protocol itself removed it before the crash).
  void on_member_ack(NodeId member, uint64_t id, uint64_t checksum) {
    member_acks_[member][id] = checksum;
  }
  // Promises: a member that answered NewWriter(W) or a put of W with OK stored W durably, so
  // after any crash it comes back with W or a newer writer (both metadata copies would have
  // to rot to lose it, and then the member does not open at all).
  void on_promise(NodeId member, const WriterId& writer) {
    WriterId& promised = promised_[member];
    promised = std::max(promised, writer);
  }
  // The checks below run after every simulation step, over the stream's clients (set in
  // `clients`, by node id) and its members (MemberNodes).
  void watch(const std::vector<ProtocolClient*>* clients, std::vector<NodeId> members) {
    clients_ = clients;
    members_ = std::move(members);
    member_commit_.assign(members_.size(), 0);
    lease_doubt_.assign(members_.size(), false);
    for (size_t i = 0; i < members_.size(); ++i) lease_doubt_[i] = corruptible_.contains(members_[i]);
  }
  const std::vector<NodeId>& members() const { return members_; }
  // What the checker judges after every simulation step.
  void check_step();
  void before_crash(NodeId member);
  bool recoveries_pending() const { return !must_survive_.empty() || !promises_to_check_.empty(); }
  void check_recoveries();

  const absl::Status& status() const { return status_; }
  uint64_t claimed_tail(const WriterId& writer) const {
    for (const ClaimResult& claim : claims_) {
      if (claim.writer == writer) return claim.tail_id;
    }
    return 0;
  }
  uint64_t acks() const { return acks_; }
  uint64_t max_acked() const { return acked_.empty() ? 0 : acked_.rbegin()->first; }
  // The highest entry acknowledged by `at_ns` (simulated time): liveness judges only entries
  // whose commit had time to be announced.
  uint64_t max_acked_by(int64_t at_ns) const {
    auto it = ack_times_.upper_bound(at_ns);
    return it == ack_times_.begin() ? 0 : std::prev(it)->second;
  }
  const absl::btree_map<uint64_t, std::pair<uint64_t, WriterId>>& acked() const { return acked_; }

 private:
  Simulation& sim_;
  absl::btree_set<NodeId> corruptible_;
  bool judge_leases_;
  std::string stream_;
  absl::btree_map<uint64_t, std::pair<uint64_t, WriterId>> acked_;  // id -> checksum, writer
  absl::btree_map<uint64_t, uint64_t> read_;                        // id -> checksum read
  absl::btree_map<int64_t, uint64_t> ack_times_;  // time -> highest id acknowledged by then
  std::vector<ClaimResult> claims_;
  absl::btree_map<NodeId, absl::btree_map<uint64_t, uint64_t>> member_acks_;  // id -> checksum
  absl::btree_map<NodeId, absl::btree_map<uint64_t, uint64_t>> must_survive_;
  absl::btree_map<NodeId, WriterId> promised_;  // the newest writer each member promised
  absl::btree_set<NodeId> promises_to_check_;   // crashed members whose recovery is unjudged
  // Lease intervals, judged directly at every step instead of by what a takeover commits:
  // while a writer trusts its lease, a majority of members must protect it (each would make
  // a newer writer wait). Members down or still recovering (nullptr) protect it (a restarted
  // member waits out the longest lease it granted); corruptible ones get the benefit of the
  // doubt (corruption may take their metadata, within the budget).
  void check_leases(const std::vector<const protocol::StreamReplica*>& replicas);
  // Agreement at the moment a member commits, not only at the end: the entry at a member's
  // new commit point is the acknowledged one there, and the one every other member committed
  // there. Entries chain by checksum, so this vouches for everything below it too.
  void check_commit(size_t index, const storage::StreamStore& store);

  const std::vector<ProtocolClient*>* clients_ = nullptr;
  std::vector<NodeId> members_;
  // By position in members_:
  std::vector<const protocol::StreamReplica*> replicas_;  // this step's
  std::vector<uint64_t> member_commit_;                    // the commit point last judged
  std::vector<bool> lease_doubt_;                          // corruptible
  absl::btree_map<uint64_t, uint64_t> committed_at_;   // id -> checksum a member committed
  uint64_t acks_ = 0;
  absl::Status status_;
};

}  // namespace walle::sim::protocol_workload
