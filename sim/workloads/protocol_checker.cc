#include "sim/workloads/protocol_checker.h"

#include "absl/strings/str_cat.h"
#include "core/protocol/member_node.h"
#include "sim/workloads/protocol_client.h"

namespace walle::sim::protocol_workload {

using protocol::Writer;

void Checker::on_acked(WriterId writer, uint64_t id, uint64_t checksum,
                       const std::vector<ProtocolClient*>& clients, NodeId self) {
  uint64_t& highest = ack_times_[sim_.now_ns()];
  highest = std::max({highest, id, max_acked()});
  ++acks_;
  // Agreement: one entry per committed id.
  if (auto read = read_.find(id); read != read_.end() && read->second != checksum) {
    fail(absl::StrCat("agreement: entry ", id, " was acknowledged different from what was read"));
    return;
  }
  auto [it, inserted] = acked_.try_emplace(id, checksum, writer);
  if (!inserted && it->second.first != checksum) {
    fail(absl::StrCat("agreement: entry ", id, " was acknowledged with two different checksums"));
    return;
  }
  // Exclusivity: a newer claim that completed already adopted a tail; an older writer's entry
  // beyond it must never be acknowledged.
  for (const ClaimResult& claim : claims_) {
    if (claim.writer > writer && id > claim.tail_id) {
      fail(absl::StrCat("exclusivity: entry ", id, " of an older writer was acknowledged after a ",
                        "newer claim ended at tail ", claim.tail_id));
      return;
    }
  }
  // Lease safety: while a writer trusts its lease, nothing it does not know is committed: no
  // newer writer commits at all, and an older one only what the lease holder's claim adopted
  // (an old writer may learn late that entries before the claim were committed).
  for (NodeId n = 0; judge_leases_ && n < clients.size(); ++n) {
    const ProtocolClient* other = clients[n];
    if (other == nullptr || n == self || other->writer() == nullptr) continue;
    const Writer& w = *other->writer();
    if (w.id() == writer || !w.lease_valid()) continue;
    if (writer > w.id() || id > claimed_tail(w.id())) {
      fail(absl::StrCat("lease safety: entry ", id, " was committed while client ", n,
                        " trusted its lease"));
      return;
    }
  }
}
void Checker::check_step() {
  if (recoveries_pending()) check_recoveries();
  if (clients_ == nullptr || !status_.ok()) return;
  // One look at each member serves every check.
  replicas_.assign(members_.size(), nullptr);
  for (size_t i = 0; i < members_.size(); ++i) {
    auto* member = static_cast<protocol::MemberNode*>(sim_.node(members_[i]));  // see watch()
    const protocol::StreamReplica* replica = member == nullptr ? nullptr : member->replica(stream_);
    replicas_[i] = replica;
    if (replica != nullptr) check_commit(i, replica->store());
  }
  if (judge_leases_) check_leases(replicas_);
}

void Checker::check_leases(const std::vector<const protocol::StreamReplica*>& replicas) {
  for (NodeId n = 0; n < clients_->size() && status_.ok(); ++n) {
    const ProtocolClient* client = (*clients_)[n];
    if (client == nullptr || client->writer() == nullptr || !client->writer()->lease_valid()) {
      continue;
    }
    const WriterId writer = client->writer()->id();
    size_t protecting = 0;
    for (size_t i = 0; i < replicas.size(); ++i) {
      protecting += replicas[i] == nullptr || lease_doubt_[i] ||
                    replicas[i]->protects_lease_of(writer);
    }
    if (protecting <= replicas.size() / 2) {
      fail(absl::StrCat("lease interval: client ", n, " trusts the lease of writer ", writer.ts,
                        ".", writer.id, " but only ", protecting, " of ", replicas.size(),
                        " members protect it"));
    }
  }
}

void Checker::check_commit(size_t index, const storage::StreamStore& store) {
  const NodeId member = members_[index];
  const uint64_t committed = store.committed_id();
  if (committed == member_commit_[index]) return;
  member_commit_[index] = committed;
  const std::optional<storage::EntryHead> head = store.head(committed);
  if (committed == 0 || !head.has_value()) return;
  if (auto acked = acked_.find(committed);
      acked != acked_.end() && acked->second.first != head->checksum) {
    return fail(absl::StrCat("agreement: member ", member, " committed entry ", committed,
                             " different from the acknowledged one"));
  }
  auto [it, inserted] = committed_at_.try_emplace(committed, head->checksum);
  if (!inserted && it->second != head->checksum) {
    fail(absl::StrCat("agreement: member ", member, " committed entry ", committed,
                      " different from what another member committed there"));
  }
}

namespace {

// Whether `store` holds entry `id` with `checksum` (below its commit point: some entry).
bool holds(const storage::StreamStore& store, uint64_t id, uint64_t checksum) {
  if (id < store.meta().first_entry_id) return true;  // trimmed by the protocol
  if (id < store.committed_id()) return !store.missing().contains(id);
  const std::optional<storage::EntryHead> head = store.head(id);
  return head.has_value() && head->checksum == checksum;
}

}  // namespace

storage::StreamStore* member_store(Simulation& sim, NodeId node, const std::string& stream) {
  auto* member = sim.node_as<protocol::MemberNode>(node);
  return member == nullptr ? nullptr : member->store(stream);
}

absl::Status member_open_failure(Simulation& sim, NodeId node, const std::string& stream) {
  auto* member = sim.node_as<protocol::MemberNode>(node);
  return member == nullptr ? absl::OkStatus() : member->open_failure(stream);
}

void Checker::before_crash(NodeId member) {
  if (promised_.contains(member)) promises_to_check_.insert(member);
  if (corruptible_.contains(member)) return;
  const storage::StreamStore* store = member_store(sim_, member, stream_);
  if (store == nullptr) return;  // not open: what must survive an earlier crash still must
  absl::btree_map<uint64_t, uint64_t> survive = std::move(must_survive_[member]);
  for (const auto& [id, checksum] : member_acks_[member]) survive[id] = checksum;
  member_acks_.erase(member);
  // Below the commit point heads are gone; a committed id vouches for the entry only when it
  // is the one the writers had acknowledged there (else the protocol replaced it earlier),
  // and only in the live log: a copy refilled from a peer after a gap commit dropped the
  // member's own is the backfill's (synced before its next chunk), not this acknowledgement.
  absl::erase_if(survive, [this, store](const auto& e) {
    const auto& [id, checksum] = e;
    if (id < store->committed_id()) {
      auto acked = acked_.find(id);
      return acked == acked_.end() || acked->second.first != checksum ||
             store->locate(id) != storage::StreamStore::Location::kLive;
    }
    return !holds(*store, id, checksum);
  });
  must_survive_.erase(member);
  if (!survive.empty()) must_survive_[member] = std::move(survive);
}

void Checker::check_recoveries() {
  for (auto it = promises_to_check_.begin(); it != promises_to_check_.end();) {
    const storage::StreamStore* store = member_store(sim_, *it, stream_);
    if (store == nullptr) {
      ++it;
      continue;  // still down, or recovering
    }
    const WriterId& promised = promised_.at(*it);
    if (store->meta().writer < promised) {
      fail(absl::StrCat("promise: member ", *it, " answered writer ", promised.ts, ".",
                        promised.id, " but came back from a crash with writer ",
                        store->meta().writer.ts, ".", store->meta().writer.id));
      return;
    }
    it = promises_to_check_.erase(it);
  }
  for (auto it = must_survive_.begin(); it != must_survive_.end();) {
    const storage::StreamStore* store = member_store(sim_, it->first, stream_);
    if (store == nullptr) {
      ++it;
      continue;  // still down, or recovering
    }
    for (const auto& [id, checksum] : it->second) {
      if (!holds(*store, id, checksum)) {
        fail(absl::StrCat("durability: member ", it->first, " acknowledged entry ", id,
                          " but lost it in a crash"));
        return;
      }
    }
    it = must_survive_.erase(it);
  }
}

}  // namespace walle::sim::protocol_workload
