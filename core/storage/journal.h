#pragma once

// Journal: one group commit for every log of a data directory (docs/storage.md, "The shared
// journal").
//
// A journaled SegmentLog writes its bytes to its own segment files without syncing them, and
// the same bytes, as a record naming (log prefix, segment, offset), to the journal; its sync()
// reports durable once the journal's is. Many logs' flushes share one journal write and one
// fdatasync (the journal is itself a SegmentLog: group commit, torn tails, sync marks), so a
// server's fdatasyncs per round do not grow with the number of streams.
//
// Redo. Journal::open replays every valid journal record into its segment file, if that file
// still exists, then syncs the files it touched; only then do the logs open, and they recover
// from their own files exactly as if each had synced itself. Redo is idempotent because a
// segment's byte at an offset is written once (numbers are never reused, cut and recycled
// segments take new numbers), and a write into a segment that is gone (trimmed, cut off,
// dropped) is skipped. What the journal lost (a torn tail, a rotten record) is what the
// log's file then lacks; the log's own sync marks, redone with its bytes, judge it torn or
// rotten as they would for damage in the log's own file: a rotten journal record damages the
// stream it belongs to, and no other.
//
// Checkpoints. The journal is bounded: once it holds `checkpoint_segments` segments, the logs
// whose writes still sit in its oldest segment have their files fdatasynced (by name, a few at
// a time), and then the journal deletes that segment. A log that wrote nothing since costs no
// I/O.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/coverage.h"
#include "core/env/file_system.h"
#include "core/storage/segment_log.h"

namespace walle::storage {

struct JournalOptions {
  uint64_t segment_bytes = 64ULL << 20;
  // Checkpoint (sync the logs' files, then delete the oldest journal segment) once the journal
  // holds this many segments.
  uint64_t checkpoint_segments = 4;
  // Logs whose files one checkpoint syncs at the same time.
  uint64_t checkpoint_parallelism = 4;
  // Counts kJournalCheckpoint (the simulator's coverage; MemberNode passes its Env's).
  Coverage* coverage = nullptr;

  absl::Status validate() const;
};

// What Journal::open found and redid.
struct JournalRecovery {
  uint64_t records = 0;         // valid journal records
  uint64_t redone_writes = 0;   // written back into a segment file that still exists
  uint64_t skipped_writes = 0;  // their segment was gone
  uint64_t redone_files = 0;    // segment files synced after the redo
  uint64_t torn_tail_bytes = 0;
  // Bytes of logs' segments marked as a hole: where journal records were lost (a later
  // record of the same segment starts past the previous one's end) and the file holds zeros,
  // one word that fails every check, so the log's recovery sees a hole rather than zeros
  // that would end its log early.
  uint64_t lost_bytes_marked = 0;
  bool holes = false;  // some journal bytes failed their checks (the logs' marks judge them)
  // Damage that may have hidden records of any log, judged as a store judges its own log:
  // the newest segment's header damaged, a broken chain, unreadable bytes (lossy); and of
  // those, damage in bytes a sync mark proves were durable, or unreadable (synced).
  bool lossy = false;
  bool lossy_synced = false;
  uint64_t invalid_records = 0;  // passed their checks but made no sense (never redone)
};

class Journal {
 public:
  // The journal's files are `JOURNAL.<seq>` (and its spares): no stream store's name can
  // produce them (store names are lower case).
  static constexpr std::string_view kPrefix = "JOURNAL";

  using OpenDone = absl::AnyInvocable<void(absl::StatusOr<std::unique_ptr<Journal>>)>;
  // Recovers the journal of `files`, redoes it into the logs' files and syncs them.
  static void open(FileSystem& files, const JournalOptions& options, OpenDone done);

  ~Journal();

  // Queues the bytes a log writes at `offset` of its segment `seq` (split into records of at
  // most max_record_bytes()); durable once a later sync() reports OK.
  void write(const std::string& prefix, uint64_t seq, uint64_t offset, std::string_view bytes);
  // Group commit: `done` runs once every write queued before the call is durable.
  void sync(IoDone done);

  // The highest segment number the journal may still hold a write for, for `prefix` (0: none):
  // a log that reopens under a prefix takes numbers above it, so a redo never writes an old
  // incarnation's bytes into a new segment of the same name.
  uint64_t max_seq(const std::string& prefix) const;

  // Whether `files` holds a journal (a directory last served with one).
  static bool exists_in(const FileSystem& files);
  // Deletes the journal's files: for a directory that goes on without one, after open()
  // redid it (the logs' files then hold everything it did).
  void remove(IoDone done);

  const JournalRecovery& recovery() const { return recovery_; }
  // Whether the journal's recovery found damage that may have hidden records of any log, so
  // that no log can trust its tail: every store opened through it reports that damage
  // (rot if proven synced, else uncertain).
  bool lost_records() const { return recovery_.lossy; }
  bool lost_synced_records() const { return recovery_.lossy_synced; }
  uint64_t segments() const { return log_->segments().size(); }
  uint64_t checkpoints() const { return checkpoints_; }
  uint64_t max_record_bytes() const;

  void check_invariants() const;

 private:
  class Redo;
  // Per log prefix: where its writes not yet synced in its own files begin in the journal,
  // and which of its segments they touched.
  struct Pending {
    SegmentLog::Position from;
    absl::btree_set<uint64_t> seqs;
  };

  Journal(FileSystem& files, const JournalOptions& options, std::unique_ptr<SegmentLog> log,
          JournalRecovery recovery);
  void maybe_checkpoint();
  void checkpoint_next();
  void finish_checkpoint(const std::string& prefix, const absl::Status& status);
  void maybe_trim();

  FileSystem& files_;
  JournalOptions options_;
  std::unique_ptr<SegmentLog> log_;
  JournalRecovery recovery_;
  absl::flat_hash_map<std::string, uint64_t> max_seq_;
  absl::btree_map<std::string, Pending> pending_;
  // Logs being checkpointed: their writes from before the checkpoint began, which the
  // checkpoint's syncs cover; writes after it go to pending_ again.
  absl::btree_map<std::string, Pending> checkpointing_;
  std::vector<std::string> checkpoint_queue_;
  bool trimming_ = false;
  uint64_t checkpoints_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace walle::storage
