#pragma once

// SegmentLog: an append-only log of records spread over segment files `<prefix>.<seq>`.
//
// Each segment begins with a kSegmentHeader record naming the segment that precedes it in
// the log and where that one's valid bytes end. Appends go to the newest segment; cut(p)
// abandons everything from position p on, and the next append starts a new segment whose
// header records the cut, so recovery follows the chain of headers backwards from the newest
// segment and never reads abandoned bytes (whose records would otherwise still pass their
// checks). A new segment is a spare: space allocated (fallocate) and synced, or recycled
// from a trimmed one.
//
// Spares off the sync path. Once the head segment is half full and no spare exists, the log
// prepares one in the background: `<prefix>.prep.<n>` allocated and synced, then renamed to a
// spare and its name synced, so the flush that needs a segment pays a rename and a directory
// sync only (a flush that finds no spare ready allocates its own).
//
// Why allocate rather than write zeros, which would spare each later sync the metadata update
// of ext4's unwritten extents: measured through the whole server, zeroing gained no commit
// latency at 1 in flight, and it doubled the bytes written and the page cache touched; at 64
// in flight it cost a quarter of the throughput and a 5x p99 (docs/storage.md).
// A crash mid-way leaves a `.prep.` file, which recovery deletes; its number is never reused.
//
// The log knows records, positions and sizes; what the records mean is its owner's business.
// Writes are queued in memory and written by flush(): all queued bytes, one write per segment,
// one fdatasync per touched segment, and every sync() caller waiting since before the flush
// shares that one round (group commit). Segments are written one after another, oldest first,
// so no durable segment is ever chained to one that is not.
//
// Torn or rotten? After a flush's fdatasync succeeds, the log queues a sync mark (a record it
// consumes itself, like headers) naming the end of what that flush made durable; the next
// flush writes it. A mark vouches for [from, end): `from` is where the log stood when it was
// last opened (bytes before it were judged by that recovery, damage and all). Recovery
// collects the marks: damage inside a vouched range hit bytes that had been durable (rot, a
// media error), damage outside may be a write a crash tore (docs/storage.md, "Torn or
// rotten").

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/env/file_system.h"
#include "core/storage/record_format.h"

namespace walle::storage {

class Journal;

// The file name of segment `seq` of the log `prefix`.
std::string segment_file_name(std::string_view prefix, uint64_t seq);

struct SegmentHeader {
  uint64_t seq = 0;
  uint64_t previous_seq = 0;  // 0: the log starts here
  uint64_t previous_end = 0;  // valid bytes of the previous segment
  std::string owner_state;    // what the log's owner needs at this point (opaque here)
  template <class Archive>
  void serialize(Archive& ar) {
    ar(seq, previous_seq, previous_end, owner_state);
  }
};

class SegmentLog {
 public:
  struct Position {
    uint64_t seq = 0;
    uint64_t offset = 0;
    friend auto operator<=>(const Position&, const Position&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
      ar(seq, offset);
    }
  };

  // What recovery saw, in log order.
  struct Visitor {
    // A valid record (not the segment headers, which the log consumes itself).
    std::function<void(const RecordView& record, Position position)> on_record;
    // Bytes [from, to) failed their checks, and a valid record follows at `to`.
    std::function<void(Position from, Position to)> on_hole;
    // A chain segment begins; its header's owner_state.
    std::function<void(std::string_view owner_state, Position position)> on_segment;
    // A valid sync mark; the owner state it carries (may be null).
    std::function<void(std::string_view owner_state, Position position)> on_sync_mark;
  };

  struct Recovered {
    std::unique_ptr<SegmentLog> log;
    uint64_t records = 0;
    uint64_t segments = 0;
    uint64_t torn_tail_bytes = 0;   // non-zero bytes after the last valid record
    uint64_t dead_segments = 0;     // files not on the chain
    uint64_t unreadable_bytes = 0;  // read as holes after retries
    bool broken_chain = false;      // a damaged header cut the chain short
    uint64_t damaged_headers = 0;   // headers unreadable or garbled (not merely never written)
    bool holes = false;             // some hole was reported
    // Ranges [from, end) of the chain whose bytes were all durable before the crash, by from
    // (the newest end for each; from the valid sync marks).
    absl::btree_map<Position, Position> vouched;
    bool vouches(Position p) const {
      auto it = vouched.upper_bound(p);
      if (it == vouched.begin()) return false;
      return p < std::prev(it)->second;
    }
    // Where the head segment's valid records end (torn_tail_bytes lie after it).
    Position valid_end;
    // The newest segment whose header was damaged (0: none).
    uint64_t newest_damaged_header = 0;
  };

  // Recovers the log `prefix` from `files` (an empty log if there are no segments).
  static void open(FileSystem& files, std::string prefix, uint64_t seed, uint64_t segment_bytes,
                   Visitor visitor, absl::AnyInvocable<void(absl::StatusOr<Recovered>)> done);

  ~SegmentLog();

  // Queues a record; returns where it will be. The owner keeps records far smaller than a
  // segment (StoreOptions::validate).
  Position append(RecordType type, std::string_view payload);
  // Abandons every record at or after `position`: a new segment starts at once, its header
  // recording the cut, so the next sync makes the cut durable.
  void cut(Position position);
  // Ends the current segment; the next append starts a new one (keeps ids in a segment
  // sorted for the fill log).
  void roll();

  // Supplies the owner_state of every new segment's header.
  void set_owner_state(std::function<std::string()> provider) {
    owner_state_ = std::move(provider);
  }
  // Supplies the owner_state of every sync mark, read when the mark is queued (right after
  // the flush it vouches for): state that is true once that flush is durable.
  void set_mark_state(std::function<std::string()> provider) { mark_state_ = std::move(provider); }

  // Group commit: `done` runs once everything appended before this call is durable.
  void sync(IoDone done);

  // From now on, flushes write this log's segments without syncing them and make the same
  // bytes durable through `journal` (journal.h), which outlives the log; nullptr: no journal.
  // New segments take numbers above any the journal may hold for this log's prefix.
  void use_journal(Journal* journal);

  // Reads `length` bytes at `position` (queued bytes included).
  void read(Position position, uint64_t length, ReadDone done);

  // Deletes whole segments strictly before segment `seq` (recycling one as a spare), up to
  // the first one a flush has not settled (bytes queued or being written, or its file not
  // ready): those stay for a later call. (Found with the journal, whose checkpoint can finish
  // before its own records are flushed: deleting such a segment lost its queued bytes' count.)
  void delete_before(uint64_t seq, IoDone done);
  // Deletes every file of the log.
  void remove_all(IoDone done);

  // The checksum seed of segment `seq`'s records (for owners that parse what read() returns).
  uint64_t seed_for(uint64_t seq) const;

  uint64_t queued_bytes() const { return queued_bytes_; }
  Position end() const { return Position{head_seq_, head_end_}; }
  // Segments on the chain, oldest first.
  std::vector<uint64_t> segments() const;

  // WALLE_CHECKs the relations between the fields (O(segments)); changes nothing.
  void check_invariants() const;

 private:
  struct Segment {
    std::unique_ptr<File> file;
    uint64_t end = 0;       // valid bytes (written or queued)
    uint64_t written = 0;   // bytes handed to the file system
    uint64_t durable = 0;   // bytes known synced
    bool ready = false;     // exists on disk, preallocated, name synced
    std::string queued;     // bytes [written, end)
    std::string in_flight;  // bytes [written - in_flight.size(), written) being written
  };
  class Recovery;
  class Flush;

  SegmentLog(FileSystem& files, std::string prefix, uint64_t seed, uint64_t segment_bytes);
  std::string segment_name(uint64_t seq) const;
  // A recycled segment keeps its old number in its spare name (`<prefix>.spare.<seq>`), so
  // recovery never hands out that number again: the spare's old records are seeded with it
  // and must never validate in a new segment.
  std::string spare_name(uint64_t old_seq) const;
  std::string prep_name(uint64_t seq) const;
  // Starts preparing a spare if the head segment is half full and there is none.
  void maybe_prepare_spare();
  void name_spare(uint64_t generation);
  void finish_prepare(uint64_t generation, const absl::Status& status);
  void start_segment(uint64_t previous_seq, uint64_t previous_end);
  Position append_record_at_head(RecordType type, std::string_view payload);
  void flush();
  void flush_segments(uint64_t from_seq, uint64_t last_seq, IoDone done);
  void remove_abandoned(IoDone done);

  FileSystem& files_;
  std::string prefix_;
  uint64_t seed_;
  uint64_t segment_bytes_;
  absl::btree_map<uint64_t, Segment> segments_;  // the chain, by seq
  uint64_t head_seq_ = 0;                        // 0: no segment yet
  uint64_t head_end_ = 0;
  uint64_t next_seq_ = 1;
  bool needs_new_segment_ = true;
  uint64_t cut_seq_ = 0;  // where the next segment's header says the log continues from
  uint64_t cut_end_ = 0;
  uint64_t queued_bytes_ = 0;
  // Owner records appended so far, and how many of them the last queued sync mark covers: a
  // flush of nothing but a mark needs no mark of its own.
  uint64_t owner_appends_ = 0;
  uint64_t marked_appends_ = 0;
  // Where the log stood when opened: marks vouch only for bytes from here on.
  Position vouch_from_;
  bool flushing_ = false;
  std::vector<IoDone> waiting_;      // sync() callers for the next flush
  std::vector<uint64_t> abandoned_;  // segments cut off the chain, to delete
  std::vector<std::string> stale_preps_;  // spares a crash left half prepared, to delete
  // The spare the next new segment takes (synced, full size, name synced), if any.
  std::optional<std::string> spare_;
  bool recycling_ = false;  // a trimmed segment is being renamed into the spare
  // The spare being prepared: its number, file, and the generation its callbacks belong to
  // (remove_all and destruction end a preparation; its late completions then do nothing).
  struct Preparing {
    uint64_t seq = 0;
    std::unique_ptr<File> file;
  };
  std::optional<Preparing> preparing_;
  std::unique_ptr<File> retired_prep_file_;  // a preparation remove_all ended
  uint64_t prepare_generation_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::function<std::string()> owner_state_;
  std::function<std::string()> mark_state_;
  Journal* journal_ = nullptr;
};

}  // namespace walle::storage
