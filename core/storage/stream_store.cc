#include "core/storage/stream_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/env/buggify.h"
#include "core/storage/records.h"
#include "core/storage/store_files.h"
#include "core/util/check.h"
#include "core/util/join.h"

namespace walle::storage {

absl::Status validate_store_name(const std::string& name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream store name '", name, "' must be 1..64 characters"));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat("stream store name '", name, "' may only hold [a-z0-9_-]"));
    }
  }
  return absl::OkStatus();
}

std::string RecoveryReport::describe() const {
  std::string out = absl::StrCat(records, " records in ", segments, " segments");
  if (torn_tail_bytes > 0) absl::StrAppend(&out, "; torn tail ", torn_tail_bytes, " B");
  if (dropped_uncommitted_entries > 0) {
    absl::StrAppend(&out, "; uncommitted hole dropped ", dropped_uncommitted_entries, " entries");
  }
  if (!corrupt_committed.empty()) {
    absl::StrAppend(&out, "; committed ids lost to corruption ", corrupt_committed.to_string());
  }
  if (unreadable_bytes > 0) absl::StrAppend(&out, "; unreadable ", unreadable_bytes, " B");
  if (damaged_headers > 0) absl::StrAppend(&out, "; damaged headers ", damaged_headers);
  if (broken_chain) absl::StrAppend(&out, "; broken chain");
  if (journal_damage) absl::StrAppend(&out, "; the journal lost records");
  if (dead_segments > 0) absl::StrAppend(&out, "; dead segments ", dead_segments);
  if (invalid_records > 0) absl::StrAppend(&out, "; invalid records ", invalid_records);
  if (lossy_damage > 0) {
    absl::StrAppend(&out, "; damage above the commit point at ", lossy_damage, " places (",
                    synced_damage, " proven synced): ", tail_damage_name(tail_damage()));
  }
  return out;
}

absl::Status StoreOptions::validate() const {
  if (max_entry_bytes == 0 || max_entry_bytes > kMaxEntryDataBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_entry_bytes=", max_entry_bytes, " must be in 1..", kMaxEntryDataBytes));
  }
  const uint64_t largest_record = record_size(max_entry_bytes + 128);
  if (segment_bytes % kRecordAlignment != 0 || segment_bytes < 2 * largest_record + 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "segment_bytes=", segment_bytes, " must be a multiple of 8 holding two of the largest ",
        "records (>= ", 2 * largest_record + 256, " for max_entry_bytes=", max_entry_bytes, ")"));
  }
  if (max_uncommitted_entries == 0 || max_uncommitted_entries > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_uncommitted_entries=", max_uncommitted_entries, " must be in 1..", 1 << 20));
  }
  if (max_queued_bytes < largest_record) {
    return absl::InvalidArgumentError(absl::StrCat("max_queued_bytes=", max_queued_bytes,
                                                   " must hold the largest record (",
                                                   largest_record, ")"));
  }
  if (read_chunk_bytes < 512 || index_interval_bytes < 512) {
    return absl::InvalidArgumentError("read_chunk_bytes and index_interval_bytes must be >= 512");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------

StreamStore::StreamStore(FileSystem& files, std::string name, const StoreOptions& options)
    : files_(files), name_(std::move(name)), options_(options) {}

StreamStore::~StreamStore() = default;

std::optional<EntryHead> StreamStore::head(uint64_t id) const {
  if (id < window_first_ || id > tail_id()) return std::nullopt;
  const WindowEntry& w = window_[id - window_first_];
  if (!w.known) return std::nullopt;
  return EntryHead{w.checksum, w.writer};
}

absl::Status StreamStore::check_writable() const {
  if (dropped_)
    return absl::FailedPreconditionError(absl::StrCat("stream ", name_, " was dropped"));
  return absl::OkStatus();
}

absl::Status StreamStore::check_entry_size(const Entry& entry) const {
  if (entry.data.size() > options_.max_entry_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry ", entry.id, " has ", entry.data.size(),
                     " bytes; max_entry_bytes=", options_.max_entry_bytes));
  }
  const uint64_t size = record_size(entry.data.size() + 128);
  if (live_->queued_bytes() + fill_->queued_bytes() + size > options_.max_queued_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("stream ", name_, ": ", live_->queued_bytes() + fill_->queued_bytes(),
                     " bytes wait to be written (max_queued_bytes=", options_.max_queued_bytes,
                     "); sync and retry"));
  }
  return absl::OkStatus();
}

absl::Status StreamStore::append(Entry entry) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (absl::Status s = check_entry_size(entry); !s.ok()) return s;
  const uint64_t tail = tail_id();
  if (entry.id != tail + 1) {
    return absl::OutOfRangeError(
        absl::StrCat("entry ", entry.id, " does not follow the tail ", tail));
  }
  const WindowEntry& last = window_.back();
  if (!last.known) {
    return absl::DataLossError(absl::StrCat("the checksum of entry ", tail,
                                            " is unknown here (missing, awaiting repair)"));
  }
  if (entry.checksum != chain_checksum(last.checksum, entry.data)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry ", entry.id, " does not chain from entry ", tail, ": checksum mismatch"));
  }
  if (tail - committed_ >= options_.max_uncommitted_entries) {
    return absl::ResourceExhaustedError(absl::StrCat(tail - committed_, " entries above ",
                                                     committed_, " are uncommitted (max ",
                                                     options_.max_uncommitted_entries, ")"));
  }
  const SegmentLog::Position position =
      live_->append(RecordType::kEntry, encode_payload(EntryRecord{entry, false}));
  window_.push_back(WindowEntry{entry.checksum, entry.writer, true, false, position});
  live_index_.add(entry.id, position, index_interval());
  return absl::OkStatus();
}

absl::Status StreamStore::append_committed(Entry entry) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (absl::Status s = check_entry_size(entry); !s.ok()) return s;
  if (entry.id <= committed_) {
    return absl::OutOfRangeError(absl::StrCat("gap commit of entry ", entry.id,
                                              " is not above the committed id ", committed_));
  }
  if (tail_id() > committed_) {
    // Every uncommitted entry goes (the fix for the original's Q-2: none may survive a gap
    // commit to be taken later for committed history). The window shrinks first: the cut's
    // new segment header records the state that remains.
    const SegmentLog::Position cut_at = window_[1].position;
    window_.resize(1);
    live_index_.erase_above(committed_);
    live_->cut(cut_at);
  }
  const uint64_t previous = committed_;
  const SegmentLog::Position position =
      live_->append(RecordType::kEntry, encode_payload(EntryRecord{entry, true}));
  window_.clear();
  window_.push_back(WindowEntry{entry.checksum, entry.writer, true, false, position});
  window_first_ = committed_ = emitted_commit_ = entry.id;
  live_index_.add(entry.id, position, index_interval());
  // The ids jumped over are committed elsewhere and missing here until backfilled.
  missing_.add(std::max(previous + 1, meta_.first_entry_id), entry.id);
  return absl::OkStatus();
}

void StreamStore::slide_window_to(uint64_t committed) {
  WALLE_CHECK(committed >= window_first_ && committed <= tail_id());
  while (window_first_ < committed) {
    // A missing entry or a gap commit breaks the run of known positions: start a new one.
    if (!recent_.empty() && recent_first_ + recent_.size() != window_first_) recent_.clear();
    if (!window_.front().known) {
      recent_.clear();
    } else {
      if (recent_.empty()) recent_first_ = window_first_;
      recent_.push_back(window_.front().position);
      if (recent_.size() > kRecentPositions) {
        recent_.pop_front();
        ++recent_first_;
      }
    }
    window_.pop_front();
    ++window_first_;
  }
  committed_ = committed;
}

absl::Status StreamStore::commit(uint64_t id) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (id <= committed_) return absl::OkStatus();
  if (id > tail_id()) {
    return absl::OutOfRangeError(
        absl::StrCat("cannot commit entry ", id, ": the tail is ", tail_id()));
  }
  slide_window_to(id);
  return absl::OkStatus();  // recorded by the next sync (one kCommit record per flush)
}

absl::Status StreamStore::truncate_after(uint64_t id) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (id < committed_ || id > tail_id()) {
    return absl::OutOfRangeError(absl::StrCat("cannot truncate after ", id, ": committed is ",
                                              committed_, ", tail is ", tail_id()));
  }
  if (id == tail_id()) return absl::OkStatus();
  const SegmentLog::Position cut_at = window_[id + 1 - window_first_].position;
  window_.resize(id - window_first_ + 1);
  live_index_.erase_above(id);
  live_->cut(cut_at);  // its new segment's header carries C and the window's re-stamps
  return absl::OkStatus();
}

void StreamStore::set_live_state_providers() {
  live_->set_owner_state([this] { return segment_state(); });
  // Every commit point this store learns is a fact of the stream (a writer's or a claim's),
  // and the entries below it are at positions before the mark: safe to repeat at once.
  live_->set_mark_state([this] { return encode_payload(CommitRecord{committed_}); });
}

std::string StreamStore::segment_state() const {
  LiveSegmentState state;
  state.committed = committed_;
  for (uint64_t i = 0; i < window_.size(); ++i) {
    if (window_[i].stamped)
      state.stamps.push_back(StampRecord{window_first_ + i, window_[i].writer});
  }
  return encode_payload(state);
}

uint64_t StreamStore::index_interval() const {
  // A sparser index now and then: longer scans.
  return WALLE_BUGGIFY(options_.buggify, kBuggifySparseIndex) ? options_.index_interval_bytes * 8
                                         : options_.index_interval_bytes;
}

absl::Status StreamStore::restamp(uint64_t id, WriterId writer) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (id < committed_ || id > tail_id()) {
    return absl::OutOfRangeError(absl::StrCat("cannot re-stamp entry ", id, ": committed is ",
                                              committed_, ", tail is ", tail_id()));
  }
  WindowEntry& w = window_[id - window_first_];
  if (writer <= w.writer) return absl::OkStatus();  // already as new or newer
  live_->append(RecordType::kStamp, encode_payload(StampRecord{id, writer}));
  w.writer = writer;
  w.stamped = true;
  return absl::OkStatus();
}

absl::Status StreamStore::put_backfill(Entry entry, uint64_t previous_checksum) {
  if (absl::Status s = check_writable(); !s.ok()) return s;
  if (absl::Status s = check_entry_size(entry); !s.ok()) return s;
  if (entry.id < meta_.first_entry_id) {
    return absl::NotFoundError(
        absl::StrCat("entry ", entry.id, " is below the trim point ", meta_.first_entry_id));
  }
  if (entry.id > committed_) {
    return absl::OutOfRangeError(
        absl::StrCat("backfill of entry ", entry.id, " above the committed id ", committed_));
  }
  if (!missing_.contains(entry.id)) return absl::OkStatus();  // already here: idempotent
  if (entry.id == 0 ? entry != entry_zero()
                    : entry.checksum != chain_checksum(previous_checksum, entry.data)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backfilled entry ", entry.id, " does not chain from the given checksum"));
  }
  // Ids grow within a backfill segment; a lower one starts a new segment.
  if (!fill_index_.empty() && entry.id <= fill_index_.last_id()) fill_->roll();
  const SegmentLog::Position position =
      fill_->append(RecordType::kEntry, encode_payload(EntryRecord{entry, false}));
  fill_index_.add(entry.id, position, index_interval());
  missing_.remove(entry.id);
  if (entry.id == window_first_ && !window_.front().known) {
    window_.front() = WindowEntry{entry.checksum, entry.writer, true, false, position};
  }
  return absl::OkStatus();
}

void StreamStore::lose(uint64_t id) {
  if (id > committed_ || id < meta_.first_entry_id) return;
  live_index_.remove(id);
  fill_index_.remove(id);
  missing_.add(id);
}

void StreamStore::sync(IoDone done) {
  if (dropped_) {
    done(check_writable());
    return;
  }
  if (emitted_commit_ != committed_) {
    live_->append(RecordType::kCommit, encode_payload(CommitRecord{committed_}));
    emitted_commit_ = committed_;
  }
  if (WALLE_BUGGIFY(options_.buggify, kBuggifyShortSegments)) live_->roll();  // short segments: long chains
  auto join = std::make_shared<Join>();
  join->pending = 2;
  join->done = std::move(done);
  // What a sync makes durable includes the metadata in memory (a new writer, say): a put
  // acknowledged after it must not outlive a writer change that is still being written, or
  // that failed (found by the promise checker: a member acknowledged a writer's puts, lost the
  // writer to an ENOSPC on its metadata, and came back from a crash with the older one).
  if (meta_durable_version_ < meta_version_) {
    ++join->pending;
    IoDone meta_done = [join](absl::Status s) { join->finish(s); };
    if (!meta_writes_.empty() && meta_writes_.back().version == meta_version_) {
      meta_writes_.back().syncs.push_back(std::move(meta_done));
    } else {
      write_meta(meta_, std::move(meta_done));  // the newest write failed: again
    }
  }
  live_->sync([join](absl::Status s) { join->finish(s); });
  fill_->sync([join](absl::Status s) { join->finish(s); });
}

// ---------------------------------------------------------------------------------------------
// Metadata: one kMeta record in `<name>.meta` and again in `<name>.meta2`, each replaced
// atomically, one after the other; an update is done (and acknowledged) once both are.

void StreamStore::update_meta(StreamMeta meta, IoDone done) {
  if (dropped_) {
    done(check_writable());
    return;
  }
  meta_ = meta;
  write_meta(std::move(meta), std::move(done));
}

void StreamStore::write_meta(StreamMeta meta, IoDone done) {
  ++meta_version_;
  // A write still waiting takes the newer state (metadata is whole, not a delta) and answers
  // both once that is durable: a stream writes at most two states, the one in progress and the
  // newest, however many updates arrive meanwhile. (Found with 1000 streams: a claim's resent
  // NewWriters each queued a 4-fsync metadata write, and the queue outgrew the disk.)
  if (meta_writes_.size() >= 2) {
    MetaWrite& waiting = meta_writes_.back();
    waiting.meta = std::move(meta);
    waiting.version = meta_version_;
    waiting.syncs.push_back(std::move(done));
    return;
  }
  meta_writes_.push_back(MetaWrite{std::move(meta), std::move(done), meta_version_, {}});
  write_next_meta();
}

void StreamStore::write_next_meta() {
  if (meta_writing_ || meta_writes_.empty()) return;
  meta_writing_ = true;
  std::string bytes;
  append_record(bytes, RecordType::kMeta, encode_payload(meta_writes_.front().meta),
                meta_seed(name_));
  auto finish = [this](absl::Status status) {
    WALLE_CHECK(meta_writing_ && !meta_writes_.empty());  // the write in progress is the front
    MetaWrite written = std::move(meta_writes_.front());
    meta_writes_.pop_front();
    meta_writing_ = false;
    if (status.ok()) meta_durable_version_ = written.version;
    written.done(status);
    for (IoDone& sync : written.syncs) sync(status);
    write_next_meta();
  };
  // The second copy only once the first is durable: some copy always holds every state that
  // was acknowledged, whatever a crash or a bad sector takes.
  replace_file(meta_name(), bytes, [this, bytes, finish](absl::Status status) mutable {
    if (!status.ok()) return finish(status);
    replace_file(meta_copy_file(name_), std::move(bytes), std::move(finish));
  });
}

// Replaces `target` with `bytes` atomically: a temp file, synced, renamed over it, the
// directory synced.
void StreamStore::replace_file(const std::string& target, std::string bytes, IoDone done) {
  const std::string temp = meta_temp_file(name_);
  absl::StatusOr<std::unique_ptr<File>> file = files_.open(temp, OpenMode::kCreateIfMissing);
  if (!file.ok()) {
    done(file.status());
    return;
  }
  std::shared_ptr<File> f(std::move(*file));
  auto join = std::make_shared<Join>();
  join->pending = 3;
  // The rename waits until the new contents are durable: a failed write (a full disk) must
  // leave the old file in place, never an empty or partial one under the real name.
  join->done = [this, f, temp, target, done = std::move(done)](absl::Status status) mutable {
    if (!status.ok()) return done(status);
    files_.rename(temp, target, [this, done = std::move(done)](absl::Status status) mutable {
      if (!status.ok()) return done(status);
      files_.sync_dir(std::move(done));
    });
  };
  auto step = [join](absl::Status s) { join->finish(s); };
  f->truncate(0, step);
  f->write_at(0, std::move(bytes), step);
  f->sync(step);
}

// ---------------------------------------------------------------------------------------------
// Trim and drop.

void StreamStore::trim(uint64_t first_entry_id, uint64_t first_entry_checksum, IoDone done) {
  if (dropped_) {
    done(check_writable());
    return;
  }
  if (first_entry_id > committed_) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "cannot trim to ", first_entry_id, ": only entries up to ", committed_, " are committed")));
    return;
  }
  if (first_entry_id <= meta_.first_entry_id) {
    done(absl::OkStatus());
    return;
  }
  // The committed id the trim point relies on must be durable before the trim point is.
  sync([this, first_entry_id, first_entry_checksum,
        done = std::move(done)](absl::Status status) mutable {
    if (!status.ok()) {
      done(status);
      return;
    }
    if (first_entry_id <= meta_.first_entry_id) {  // a concurrent trim went further
      done(absl::OkStatus());
      return;
    }
    meta_.first_entry_id = first_entry_id;
    meta_.first_entry_checksum = first_entry_checksum;
    missing_.remove(0, first_entry_id);
    live_index_.erase_below(first_entry_id);
    fill_index_.erase_below(first_entry_id);
    write_meta(meta_, [this, first_entry_id, done = std::move(done)](absl::Status status) mutable {
      if (!status.ok()) {
        done(status);
        return;
      }
      // Whole segments below the trim point go (never the one holding C, as C >= first).
      auto first_needed = [first_entry_id](const LogIndex& index, const SegmentLog& log) {
        for (uint64_t seq : log.segments()) {
          // A segment with no id left at or above the trim point goes (the head never does).
          std::optional<uint64_t> max_id = index.max_id_in(seq);
          if ((max_id && *max_id >= first_entry_id) || seq == log.end().seq) return seq;
        }
        return log.end().seq;
      };
      const uint64_t live_keep = first_needed(live_index_, *live_);
      const uint64_t fill_keep = first_needed(fill_index_, *fill_);
      live_index_.forget_segments_before(live_keep);
      fill_index_.forget_segments_before(fill_keep);
      auto join = std::make_shared<Join>();
      join->pending = 2;
      join->done = std::move(done);
      live_->delete_before(live_keep, [join](absl::Status s) { join->finish(s); });
      fill_->delete_before(fill_keep, [join](absl::Status s) { join->finish(s); });
    });
  });
}

void StreamStore::drop(IoDone done) {
  dropped_ = true;
  auto join = std::make_shared<Join>();
  join->pending = 2;
  join->done = [this, done = std::move(done)](absl::Status status) mutable {
    if (!status.ok()) {
      done(status);
      return;
    }
    // The metadata goes last: a crash midway leaves a stream without segments, which reopens
    // as an empty stream and is dropped again.
    auto join2 = std::make_shared<Join>();
    join2->pending = 1;
    join2->done = std::move(done);
    for (const std::string& meta : {meta_name(), meta_copy_file(name_)}) {
      if (!files_.exists(meta)) continue;
      ++join2->pending;
      files_.remove(meta, [join2](absl::Status s) { join2->finish(s); });
    }
    ++join2->pending;
    files_.sync_dir([join2](absl::Status s) { join2->finish(s); });
    join2->finish(absl::OkStatus());
  };
  live_->remove_all([join](absl::Status s) { join->finish(s); });
  fill_->remove_all([join](absl::Status s) { join->finish(s); });
}

// ---------------------------------------------------------------------------------------------
// Invariants, checked after every simulated step.

void StreamStore::check_invariants() const {
  // The window always holds entry C: C..T, with C == window_first_.
  WALLE_CHECK(!window_.empty());
  WALLE_CHECK(window_first_ == committed_);
  // Recent positions are of committed ids, stored in the live log.
  WALLE_CHECK(recent_.size() <= kRecentPositions);
  if (!recent_.empty()) {
    WALLE_CHECK(recent_first_ + recent_.size() <= window_first_);
  }
  WALLE_CHECK(emitted_commit_ <= committed_);  // the live log never records a commit ahead
  // Missing ids are committed ids at or above the trim point.
  if (!missing_.empty()) {
    WALLE_CHECK(missing_.ranges().begin()->first >= meta_.first_entry_id);
    WALLE_CHECK(std::prev(missing_.ranges().end())->second <= committed_ + 1);
  }
  // An entry C whose checksum is unknown is one this store must refill (or has trimmed).
  WALLE_CHECK(window_.front().known || missing_.contains(committed_) ||
              committed_ < meta_.first_entry_id);
  // Missing means not held: no index may still find a missing id (reads go by the indexes;
  // found by the storage property test: a backfill recovery kept above a lost commit point).
  WALLE_CHECK(!missing_.intersects(live_index_.ids()));
  WALLE_CHECK(!missing_.intersects(fill_index_.ids()));
  // The backfill log holds committed ids only (recovery forgets refills above a commit point
  // that a crash took).
  if (!fill_index_.empty()) {
    WALLE_CHECK(std::prev(fill_index_.ids().ranges().end())->second <= committed_ + 1);
  }
  // The live log holds nothing above T, and a known tail above C is in it (only appends put
  // entries there), unless below the trim point: recovery from heavy damage may find C below
  // it, and the index keeps nothing there.
  if (!live_index_.empty()) {
    WALLE_CHECK(std::prev(live_index_.ids().ranges().end())->second <= tail_id() + 1);
  }
  if (window_.size() > 1 && window_.back().known && tail_id() >= meta_.first_entry_id) {
    WALLE_CHECK(live_index_.contains(tail_id()));
  }
  // Metadata writes go one at a time, from the queue's front, each with a newer version.
  WALLE_CHECK(meta_writing_ == !meta_writes_.empty());
  WALLE_CHECK(meta_durable_version_ <= meta_version_);
  if (!meta_writes_.empty()) {
    WALLE_CHECK(meta_writes_.front().version <= meta_writes_.back().version);
    WALLE_CHECK(meta_writes_.back().version <= meta_version_);
  }
  live_->check_invariants();
  fill_->check_invariants();
}

}  // namespace walle::storage
