#include "core/protocol/replica_log.h"

#include "absl/strings/str_cat.h"

namespace walle::protocol {
namespace {

PutResult refuse(absl::Status status) { return PutResult{std::move(status), PutOutcome::kNone}; }
PutResult ok(PutOutcome outcome) { return PutResult{absl::OkStatus(), outcome}; }

}  // namespace

PutResult ReplicaLog::gap_commit(const Entry& e) {
  absl::Status s = store_.append_committed(e);
  return s.ok() ? ok(PutOutcome::kGapCommit) : refuse(s);
}

PutResult ReplicaLog::put(const Entry& e, bool committed, const WriterId& sender) {
  if (e.id == 0) return refuse(absl::InvalidArgumentError("entry 0 is never put"));
  const uint64_t c = store_.committed_id();
  const uint64_t t = store_.tail_id();
  const WriterId& stored_writer = store_.meta().writer;

  // A superseded writer may not add anything uncommitted.
  if (!committed && sender < stored_writer) {
    return refuse(absl::FailedPreconditionError(
        absl::StrCat("entry ", e.id, ": writer superseded by a newer one")));
  }
  if (e.id > t + 1) {
    if (!committed) {
      return refuse(
          absl::OutOfRangeError(absl::StrCat("entry ", e.id, " is beyond tail ", t, "+1")));
    }
    return gap_commit(e);
  }
  if (e.id < c) {
    return refuse(
        absl::OutOfRangeError(absl::StrCat("entry ", e.id, " is below the committed id ", c)));
  }
  if (e.id == c) {
    const std::optional<storage::EntryHead> head = store_.head(c);
    if (!head) {
      return refuse(absl::DataLossError(absl::StrCat("committed entry ", c, " is missing here")));
    }
    if (head->checksum != e.checksum) {
      const std::string why = absl::StrCat("entry ", e.id, " differs from the committed one");
      return refuse(committed ? absl::DataLossError(why) : absl::OutOfRangeError(why));
    }
    if (head->writer >= e.writer) return ok(PutOutcome::kNone);
    absl::Status s = store_.restamp(e.id, e.writer);
    return s.ok() ? ok(PutOutcome::kRestamped) : refuse(s);
  }

  // c < e.id <= t + 1: the entry must chain from its predecessor here.
  const std::optional<storage::EntryHead> previous = store_.head(e.id - 1);
  if (!previous) {
    return refuse(
        absl::DataLossError(absl::StrCat("the checksum of entry ", e.id - 1, " is unknown here")));
  }
  if (chain_checksum(previous->checksum, e.data) != e.checksum) {
    if (!committed) {
      return refuse(absl::OutOfRangeError(
          absl::StrCat("entry ", e.id, " does not chain from entry ", e.id - 1, " here")));
    }
    if (e.id - 1 <= c) {
      return refuse(absl::DataLossError(
          absl::StrCat("committed entry ", e.id, " conflicts with committed history")));
    }
    return gap_commit(e);  // our uncommitted suffix is foreign: jump to the committed entry
  }

  if (e.id <= t) {
    const storage::EntryHead existing = *store_.head(e.id);
    if (existing.checksum == e.checksum) {
      // The same entry. A newer stamp re-stamps it; an older one is fine when the put only
      // wants it committed (the fix for Q-3: the original refused, stalling claims forever).
      PutOutcome outcome = PutOutcome::kNone;
      if (existing.writer < e.writer) {
        // A newer writer adopting this entry also drops whatever follows it.
        if (absl::Status s = store_.truncate_after(e.id); !s.ok()) return refuse(s);
        if (absl::Status s = store_.restamp(e.id, e.writer); !s.ok()) return refuse(s);
        outcome = PutOutcome::kRestamped;
      } else if (existing.writer > sender && !committed) {
        return refuse(
            absl::OutOfRangeError(absl::StrCat("entry ", e.id, " is stored with a newer writer")));
      }
      if (committed) {
        if (absl::Status s = store_.commit(e.id); !s.ok()) return refuse(s);
        if (outcome == PutOutcome::kNone) outcome = PutOutcome::kCommitted;
      }
      return ok(outcome);
    }
    // A different entry at an occupied id: only a newer writer may replace the suffix.
    if (existing.writer > sender) {
      return refuse(
          absl::OutOfRangeError(absl::StrCat("entry ", e.id, " is stored from a newer writer")));
    }
    if (existing.writer == sender) {
      return refuse(
          absl::InternalError(absl::StrCat("writer put two different entries at id ", e.id)));
    }
    if (absl::Status s = store_.truncate_after(e.id - 1); !s.ok()) return refuse(s);
    if (absl::Status s = store_.append(e); !s.ok()) return refuse(s);
    if (committed) {
      if (absl::Status s = store_.commit(e.id); !s.ok()) return refuse(s);
    }
    return ok(PutOutcome::kReplaced);
  }

  // e.id == t + 1: a new tail. An older writer may not extend a newer one's.
  if (!committed && sender < previous->writer) {
    return refuse(absl::FailedPreconditionError(
        absl::StrCat("entry ", e.id, ": the tail here comes from a newer writer")));
  }
  if (absl::Status s = store_.append(e); !s.ok()) {
    // The store's own limits (too many uncommitted, queue full) mean "later".
    if (s.code() == absl::StatusCode::kResourceExhausted) {
      return refuse(absl::OutOfRangeError(s.message()));
    }
    return refuse(s);
  }
  if (committed) {
    if (absl::Status s = store_.commit(e.id); !s.ok()) return refuse(s);
  }
  return ok(PutOutcome::kAppended);
}

absl::Status ReplicaLog::commit(uint64_t id, uint64_t checksum) {
  if (id <= store_.committed_id()) return absl::OkStatus();
  if (id > store_.tail_id()) {
    return absl::OutOfRangeError(
        absl::StrCat("commit of ", id, " is beyond the tail ", store_.tail_id()));
  }
  const std::optional<storage::EntryHead> head = store_.head(id);
  if (!head) return absl::DataLossError(absl::StrCat("entry ", id, " is missing here"));
  if (head->checksum != checksum) {
    return absl::OutOfRangeError(
        absl::StrCat("commit of ", id, " names a checksum that differs from the entry here"));
  }
  return store_.commit(id);
}

// The log keeps no state of its own: what its decisions must leave true is the store's (a
// commit point within the window, the entry there known or awaiting refill, the indexes).
void ReplicaLog::check_invariants() const { store_.check_invariants(); }

}  // namespace walle::protocol
