#pragma once

// ReplicaLog: what a stream replica does with a put or a commit from a writer, as a decision
// table over the StreamStore (docs/protocol.md, "Applying puts"). Pure and synchronous: the
// caller (the replica state machine) orders requests, syncs the store, and replies.
//
// Codes follow the protocol's conventions: kFailedPrecondition (the writer is superseded:
// final for it), kOutOfRange (not applicable yet or any more: retry), kDataLoss (conflicts
// with committed history, or the needed entry is missing here), kInvalidArgument
// (malformed), kInternal (a state no correct peer can produce).

#include <cstdint>

#include "absl/status/status.h"
#include "core/storage/entry.h"
#include "core/storage/stream_store.h"

namespace walle::protocol {

// What applying a put did, beyond its status.
enum class PutOutcome {
  kNone,       // nothing changed (duplicate, or refused)
  kAppended,   // stored at the tail (and committed if asked)
  kReplaced,   // a newer writer's entry replaced an uncommitted suffix
  kRestamped,  // same entry, newer writer stamp
  kCommitted,  // only the commit point moved (the entry was already here)
  kGapCommit,  // stored beyond the tail as committed: ids in between are now missing
};

struct PutResult {
  absl::Status status;
  PutOutcome outcome = PutOutcome::kNone;
};

class ReplicaLog {
 public:
  explicit ReplicaLog(storage::StreamStore& store) : store_(store) {}

  // Applies entry `e` sent by writer `sender` (the entry's stamp may be older: a claim copies
  // entries with their stamps); `committed` says the sender's commit point covers it.
  PutResult put(const Entry& e, bool committed, const WriterId& sender);
  PutResult put(const Entry& e, bool committed) { return put(e, committed, e.writer); }

  // Advances the commit point to entry `id`, which must be stored here with `checksum`.
  absl::Status commit(uint64_t id, uint64_t checksum);

  // WALLE_CHECKs what every decision above leaves true of the store (the log itself keeps no
  // state); changes nothing.
  void check_invariants() const;

 private:
  PutResult gap_commit(const Entry& e);

  storage::StreamStore& store_;
};

}  // namespace walle::protocol
