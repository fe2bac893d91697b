#pragma once

// StreamStore: one stream's durable log on one server.
//
// Durability contract. Mutations (append, append_committed, commit, truncate_after, restamp,
// put_backfill) take effect in memory at once and are *accepted*, not durable. A later
// sync(done) reports OK once every mutation accepted before the call is on disk; many
// callers share one write and one fdatasync per log (group commit). If the write fails
// (kResourceExhausted: disk full), done gets that error, nothing already durable is harmed,
// the accepted mutations stay queued, and a later sync writes them once space returns.
// update_meta, trim and drop are durable when their callback reports OK.
//
// After a crash, open() recovers every mutation that was durable. Of the rest, any prefix
// may survive or a torn part of it: recovery cuts a torn tail, drops uncommitted entries it
// cannot vouch for, and reports committed entries lost to corruption as missing(): they are
// never served, and stay missing until put_backfill refills them from a peer.
//
// Memory is bounded: the index holds positions and checksums, never entry data; reads
// stream from disk in chunks.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/env/buggify.h"
#include "core/env/file_system.h"
#include "core/storage/entry.h"
#include "core/storage/journal.h"
#include "core/storage/log_index.h"
#include "core/storage/range_set.h"
#include "core/storage/segment_log.h"
#include "core/storage/stream_meta.h"
#include "core/storage/tail_damage.h"

namespace walle::storage {

struct StoreOptions {
  uint64_t segment_bytes = 64ULL << 20;  // preallocated size of a log segment
  uint64_t max_entry_bytes = kMaxEntryDataBytes;
  uint64_t max_uncommitted_entries = 4096;
  uint64_t max_queued_bytes = 64ULL << 20;  // accepted but not yet written
  uint64_t read_chunk_bytes = 256 << 10;
  uint64_t index_interval_bytes = 64 << 10;  // one sparse index point per this many bytes
  // Fault points (WALLE_BUGGIFY): tiny read chunks, early segment rolls, a sparser index.
  // The opener's Env::buggify (MemberNode passes its own); nullptr in production.
  Buggify* buggify = nullptr;
  // The data directory's shared journal (journal.h), opened before the store: its logs then
  // sync through it, one group commit for all the streams of a server. nullptr: each log
  // fdatasyncs its own segments.
  Journal* journal = nullptr;

  absl::Status validate() const;
};

// What recovery found, by name (cf. RocksDB's WALRecoveryMode): each kind of damage has its
// own, documented treatment (docs/storage.md).
struct RecoveryReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  // kTornTail: bytes after the last valid record of the live log that were not zero; cut off.
  uint64_t torn_tail_bytes = 0;
  // kUncommittedHole: a hole among uncommitted entries; they and everything after were
  // dropped (never acknowledged as committed).
  uint64_t dropped_uncommitted_entries = 0;
  // kCommittedHole: committed ids whose records failed their checks; need repair from peers.
  RangeSet corrupt_committed;
  // Segments that are not part of the log (spares, abandoned by a truncation, unreadable).
  uint64_t dead_segments = 0;
  // Byte ranges of segments that could not be read (latent errors); treated as holes.
  uint64_t unreadable_bytes = 0;
  // A segment on the chain had a damaged header: older segments could not be ordered, and were
  // kept on disk but not replayed; what they held is missing.
  bool broken_chain = false;
  // Segment headers that could not be read, or hold bytes that are not a header (rather than
  // zeros never written): a segment with one is dead, and what it held is gone.
  uint64_t damaged_headers = 0;
  // Records that pass their checksums but make no sense here (a bug or a forged file); ignored.
  uint64_t invalid_records = 0;
  // Places (holes, the tail, headers) where damage may have taken state above the commit
  // point: uncommitted entries, re-stamps, the commit point itself. Of those, the ones in
  // bytes a sync mark proves were durable (rot for sure).
  uint64_t lossy_damage = 0;
  uint64_t synced_damage = 0;
  // The journal this store syncs through lost records it cannot attribute (a damaged header,
  // a broken chain, unreadable bytes): any acknowledged tail may be gone, so it counts as
  // lossy damage (rot if the journal's damage hit bytes proven synced).
  bool journal_damage = false;
  // The verdict the protocol acts on: kNone if nothing this member may have acknowledged can
  // be gone; kRot if some lossy damage hit synced bytes or unreadable sectors; else kUncertain.
  TailDamage tail_damage() const {
    if (lossy_damage == 0) return TailDamage::kNone;
    return synced_damage > 0 || unreadable_bytes > 0 ? TailDamage::kRot : TailDamage::kUncertain;
  }

  // One line naming each case found, for logs and traces.
  std::string describe() const;
};

// Checksum and writer of an entry in the uncommitted window [C, T].
struct EntryHead {
  uint64_t checksum = 0;
  WriterId writer;
};

// True for an open refused because both metadata copies are bad. The member lost its
// promises (the newest writer it accepted), so it must not vote until an operator restores
// the metadata from a peer or replaces the member; reopening alone does not help.
bool lost_metadata(const absl::Status& status);

class StreamStore {
 public:
  using OpenDone = absl::AnyInvocable<void(absl::StatusOr<std::unique_ptr<StreamStore>>)>;
  using ReadDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<Entry>>)>;

  // Opens the stream `name` (1..64 of [a-z0-9_-]) in `files`, recovering it, or creates it
  // with entry 0 stored and committed. `files` must outlive the store.
  static void open(FileSystem& files, std::string name, const StoreOptions& options, OpenDone done);

  ~StreamStore();

  const std::string& name() const { return name_; }
  uint64_t committed_id() const { return committed_; }
  uint64_t tail_id() const { return window_first_ + window_.size() - 1; }
  const StreamMeta& meta() const { return meta_; }
  // True if meta() is durable as it stands (no metadata write queued or failed since).
  bool meta_durable() const { return meta_durable_version_ == meta_version_; }
  const RecoveryReport& recovery_report() const { return report_; }
  // Committed ids at or above the trim point that are not stored here: gaps left by
  // append_committed and ranges lost to corruption. Never served; put_backfill fills them.
  const RangeSet& missing() const { return missing_; }
  // Checksum and writer of entry `id` if C <= id <= T.
  std::optional<EntryHead> head(uint64_t id) const;
  // Where entry `id` is kept: the live log (written by writers and claims), the backfill log
  // (refilled from peers after it was missing), missing, or nowhere (above T, or trimmed).
  enum class Location { kLive, kBackfill, kMissing, kNone };
  Location locate(uint64_t id) const {
    if (missing_.contains(id)) return Location::kMissing;
    if (fill_index_.contains(id)) return Location::kBackfill;
    if (live_index_.contains(id)) return Location::kLive;
    return Location::kNone;
  }

  // Appends at the tail: entry.id == T+1, chaining from the tail's checksum, at most
  // max_uncommitted_entries above C. Which writer may append is the protocol's decision
  // (ReplicaLog): a claim copies entries with older stamps after a re-stamped one.
  absl::Status append(Entry entry);
  // Stores `entry` (id > C) as committed and as the new tail, after dropping every
  // uncommitted entry: the protocol's gap commit. Ids between C and entry.id become missing.
  absl::Status append_committed(Entry entry);
  // Advances C to `id` (<= T); at or below C it is a no-op.
  absl::Status commit(uint64_t id);
  // Drops the uncommitted entries above `id` (C <= id <= T).
  absl::Status truncate_after(uint64_t id);
  // Re-stamps entry `id` (C <= id <= T) with a newer writer; its checksum is unchanged.
  absl::Status restamp(uint64_t id, WriterId writer);
  // Fills missing id `entry.id`; its chain is checked against `previous_checksum`, the
  // checksum of entry id-1, which the caller read from this store or a peer. Entry 0 must be
  // entry_zero().
  absl::Status put_backfill(Entry entry, uint64_t previous_checksum);

  // Group commit: see the durability contract above.
  void sync(IoDone done);
  // Replaces the metadata atomically and durably (write temp, sync, rename, sync dir).
  void update_meta(StreamMeta meta, IoDone done);
  // Moves the trim point to `first_entry_id` (<= C) durably, then deletes the segments
  // wholly below it. Reads below the trim point fail with kNotFound.
  void trim(uint64_t first_entry_id, uint64_t first_entry_checksum, IoDone done);
  // Deletes every file of the stream; the store accepts nothing afterwards.
  void drop(IoDone done);

  // Reads entries [from, to) in id order, from both logs, up to about `max_bytes` (at least
  // one entry). Only committed entries, unless `allow_uncommitted`. Errors: kNotFound below
  // the trim point, kOutOfRange past C (or T), kDataLoss for a missing id or a record that
  // fails its checksum (the id is then added to missing()).
  void read(uint64_t from, uint64_t to, uint64_t max_bytes, bool allow_uncommitted, ReadDone done);

  // WALLE_CHECKs the relations between C, T, the window, the indexes, missing() and the
  // metadata writes, and both logs' own; changes nothing. O(log of the ranges) plus the logs'.
  void check_invariants() const;

 private:
  struct WindowEntry {
    uint64_t checksum = 0;
    WriterId writer;
    bool known = true;     // false: the entry is missing here (lost), only its id is known
    bool stamped = false;  // writer differs from the one in the entry's record
    SegmentLog::Position position;
  };
  class Recovery;
  class Reader;

  StreamStore(FileSystem& files, std::string name, const StoreOptions& options);
  absl::Status check_writable() const;
  absl::Status check_entry_size(const Entry& entry) const;
  void write_meta(StreamMeta meta, IoDone done);
  void write_next_meta();
  void replace_file(const std::string& target, std::string bytes, IoDone done);
  // What every new live segment's header carries: the committed id and the re-stamps of the
  // window, so that a cut and the state it keeps become durable together.
  std::string segment_state() const;
  // Installs segment_state() for new segments' headers and the committed id for sync marks.
  void set_live_state_providers();
  uint64_t index_interval() const;
  void slide_window_to(uint64_t committed);
  // Marks `id` (a committed id whose stored copy is unreadable) as missing.
  void lose(uint64_t id);
  std::string meta_name() const { return name_ + ".meta"; }

  FileSystem& files_;
  std::string name_;
  StoreOptions options_;
  StreamMeta meta_;
  RecoveryReport report_;
  std::unique_ptr<SegmentLog> live_;
  std::unique_ptr<SegmentLog> fill_;
  uint64_t committed_ = 0;
  // The uncommitted window: entries C..T (window_first_ == C).
  uint64_t window_first_ = 0;
  std::deque<WindowEntry> window_;
  // Where the newest committed entries below the window lie in the live log: ids
  // recent_first_ .. recent_first_ + size - 1, in order. A read of them (a tailing reader, a
  // peer's backfill) starts at the record instead of at an index point up to an interval
  // earlier, and reads only what it needs. Those below the trim point are not used (their
  // segments may be gone; the segments of ids at or above it stay).
  static constexpr size_t kRecentPositions = 64;
  uint64_t recent_first_ = 0;
  std::deque<SegmentLog::Position> recent_;
  std::optional<SegmentLog::Position> recent_position(uint64_t id) const {
    if (id < std::max(recent_first_, meta_.first_entry_id) || id - recent_first_ >= recent_.size()) {
      return std::nullopt;
    }
    return recent_[id - recent_first_];
  }
  LogIndex live_index_;
  LogIndex fill_index_;
  RangeSet missing_;
  uint64_t emitted_commit_ = 0;  // the committed id the live log already records
  bool dropped_ = false;
  struct MetaWrite {
    StreamMeta meta;
    IoDone done;
    uint64_t version = 0;
    std::vector<IoDone> syncs;  // sync() callers, and coalesced updates, waiting for it
  };
  // One at a time: they share the temp file. At most one waits behind the one in progress:
  // a newer update replaces its state (write_meta).
  std::deque<MetaWrite> meta_writes_;
  bool meta_writing_ = false;
  // Metadata versions: one per write queued, and the newest that is durable (a sync waits for
  // the newest, or writes it again after a failure).
  uint64_t meta_version_ = 0;
  uint64_t meta_durable_version_ = 0;
};

}  // namespace walle::storage
