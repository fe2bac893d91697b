#include "core/storage/segment_log.h"

#include <xxhash.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/storage/journal.h"
#include "core/storage/records.h"
#include "core/storage/sector_salvage.h"
#include "core/storage/sync_mark.h"
#include "core/util/check.h"
#include "core/util/join.h"

namespace walle::storage {

SegmentLog::SegmentLog(FileSystem& files, std::string prefix, uint64_t seed, uint64_t segment_bytes)
    : files_(files), prefix_(std::move(prefix)), seed_(seed), segment_bytes_(segment_bytes) {}

SegmentLog::~SegmentLog() = default;  // alive_ goes: late preparation callbacks do nothing

std::string segment_file_name(std::string_view prefix, uint64_t seq) {
  return absl::StrFormat("%s.%08d", std::string(prefix), seq);
}

std::string SegmentLog::segment_name(uint64_t seq) const { return segment_file_name(prefix_, seq); }

std::string SegmentLog::spare_name(uint64_t old_seq) const {
  return absl::StrCat(prefix_, ".spare.", old_seq);
}

std::string SegmentLog::prep_name(uint64_t seq) const { return absl::StrCat(prefix_, ".prep.", seq); }

void SegmentLog::maybe_prepare_spare() {
  if (spare_ || preparing_ || recycling_ || head_seq_ == 0) return;
  if (segments_.at(head_seq_).end * 2 < segment_bytes_) return;
  const uint64_t seq = next_seq_++;  // a number no segment will take
  absl::StatusOr<std::unique_ptr<File>> file =
      files_.open(prep_name(seq), OpenMode::kCreateIfMissing);
  if (!file.ok()) return;  // the flush that needs a segment makes one itself
  retired_prep_file_.reset();  // its operations completed before this flush's
  preparing_ = Preparing{seq, std::move(*file)};
  const uint64_t generation = prepare_generation_;
  auto join = Join::make([this, alive = std::weak_ptr<bool>(alive_), generation](absl::Status s) {
    if (alive.expired() || generation != prepare_generation_) return;
    if (!s.ok()) return finish_prepare(generation, s);
    name_spare(generation);
  });
  join->pending += 2;
  preparing_->file->allocate(0, segment_bytes_, [join](absl::Status s) { join->finish(s); });
  preparing_->file->sync([join](absl::Status s) { join->finish(s); });
  join->finish(absl::OkStatus());
}

void SegmentLog::name_spare(uint64_t generation) {
  // Closed before the rename: the spare is reopened under its new name when taken.
  const std::string from = prep_name(preparing_->seq);
  preparing_->file.reset();
  files_.rename(from, spare_name(preparing_->seq),
                [this, alive = std::weak_ptr<bool>(alive_), generation](absl::Status s) {
                  if (alive.expired() || generation != prepare_generation_) return;
                  if (!s.ok()) return finish_prepare(generation, s);
                  files_.sync_dir([this, alive, generation](absl::Status s) {
                    if (alive.expired() || generation != prepare_generation_) return;
                    finish_prepare(generation, s);
                  });
                });
}

void SegmentLog::finish_prepare(uint64_t generation, const absl::Status& status) {
  WALLE_CHECK(generation == prepare_generation_ && preparing_);
  const uint64_t seq = preparing_->seq;
  preparing_.reset();
  ++prepare_generation_;
  if (status.ok()) {
    spare_ = spare_name(seq);
    return;
  }
  // A full disk or a failed sync: the file goes (under whichever name it has); the flush
  // that needs a segment makes its own, and reports the error if it persists.
  stale_preps_.push_back(prep_name(seq));
  stale_preps_.push_back(spare_name(seq));
}

uint64_t SegmentLog::seed_for(uint64_t seq) const {
  const uint64_t parts[2] = {seed_, seq};
  return XXH3_64bits(parts, sizeof(parts));
}

std::vector<uint64_t> SegmentLog::segments() const {
  std::vector<uint64_t> out;
  for (const auto& [seq, segment] : segments_) out.push_back(seq);
  return out;
}

void SegmentLog::start_segment(uint64_t previous_seq, uint64_t previous_end) {
  const uint64_t seq = next_seq_++;
  WALLE_CHECK(segments_.empty() || segments_.rbegin()->first < seq);  // numbers never reused
  Segment& segment = segments_[seq];
  head_seq_ = seq;
  needs_new_segment_ = false;
  append_record(segment.queued, RecordType::kSegmentHeader,
                encode_payload(SegmentHeader{seq, previous_seq, previous_end,
                                             owner_state_ ? owner_state_() : std::string()}),
                seed_for(seq));
  segment.end = segment.queued.size();
  head_end_ = segment.end;
  queued_bytes_ += segment.queued.size();
}

SegmentLog::Position SegmentLog::append(RecordType type, std::string_view payload) {
  WALLE_CHECK(type != RecordType::kSegmentHeader && type != RecordType::kSyncMark);
  ++owner_appends_;
  return append_record_at_head(type, payload);
}

SegmentLog::Position SegmentLog::append_record_at_head(RecordType type, std::string_view payload) {
  const uint64_t size = record_size(payload.size());
  // The owner's entry size limit keeps every record well below a segment (StoreOptions).
  WALLE_CHECK(size + 128 <= segment_bytes_);
  if (needs_new_segment_ || head_seq_ == 0) {
    start_segment(cut_seq_, cut_end_);
  } else if (head_end_ + size > segment_bytes_) {
    start_segment(head_seq_, head_end_);
  }
  Segment& segment = segments_.at(head_seq_);
  const Position position{head_seq_, head_end_};
  append_record(segment.queued, type, payload, seed_for(head_seq_));
  segment.end += size;
  head_end_ = segment.end;
  queued_bytes_ += size;
  return position;
}

void SegmentLog::cut(Position position) {
  WALLE_CHECK(segments_.contains(position.seq) &&
              position.offset <= segments_.at(position.seq).end);
  // Later segments leave the chain; their files are deleted by the next flush. (Erasing from
  // a btree invalidates its iterators: collect the keys first.)
  std::vector<uint64_t> later;
  for (auto it = segments_.upper_bound(position.seq); it != segments_.end(); ++it) {
    later.push_back(it->first);
  }
  for (uint64_t seq : later) {
    queued_bytes_ -= segments_.at(seq).queued.size();
    abandoned_.push_back(seq);
    segments_.erase(seq);
  }
  Segment& segment = segments_.at(position.seq);
  const uint64_t keep_queued =
      position.offset > segment.written ? position.offset - segment.written : 0;
  if (keep_queued < segment.queued.size()) {
    queued_bytes_ -= segment.queued.size() - keep_queued;
    segment.queued.resize(keep_queued);
  }
  segment.end = position.offset;
  // The new segment's header is what makes the cut durable: queue it now, so the next sync
  // writes it even if nothing else is appended.
  start_segment(position.seq, position.offset);
}

void SegmentLog::roll() {
  if (head_seq_ == 0) return;
  cut_seq_ = head_seq_;
  cut_end_ = head_end_;
  needs_new_segment_ = true;
}

void SegmentLog::use_journal(Journal* journal) {
  journal_ = journal;
  if (journal_ != nullptr) next_seq_ = std::max(next_seq_, journal_->max_seq(prefix_) + 1);
}

void SegmentLog::sync(IoDone done) {
  waiting_.push_back(std::move(done));
  flush();
}

void SegmentLog::flush() {
  if (flushing_ || waiting_.empty()) return;
  flushing_ = true;
  auto waiters = std::make_shared<std::vector<IoDone>>(std::move(waiting_));
  waiting_.clear();
  // What this flush makes durable, for the sync mark queued once it is.
  const Position flushed_end = end();
  const uint64_t flushed_appends = owner_appends_;
  flush_segments(1, flushed_end.seq,
                 [this, waiters, flushed_end, flushed_appends](absl::Status status) {
                   flushing_ = false;
                   if (status.ok()) maybe_prepare_spare();
                   if (status.ok() && flushed_appends != marked_appends_ &&
                       flushed_end.seq != 0 && segments_.contains(flushed_end.seq)) {
                     // Written by the next flush: recovery then knows these bytes were
                     // durable, so damage among them is rot, not a torn write.
                     marked_appends_ = flushed_appends;
                     append_record_at_head(
                         RecordType::kSyncMark,
                         encode_payload(SyncMark{vouch_from_, flushed_end,
                                                 mark_state_ ? mark_state_() : std::string()}));
                   }
                   for (IoDone& waiter : *waiters) waiter(status);
                   flush();  // callers that arrived meanwhile
                 });
}

// One segment at a time, oldest first: a segment's bytes reach the disk only once every older
// one's are durable. Written side by side, a failed write (ENOSPC allocating a new file)
// could leave a durable segment chained to one that never became durable, and recovery would
// call everything older dead (found by BUGGIFY's short segments with ENOSPC: a member lost
// entries it had acknowledged long before).
void SegmentLog::flush_segments(uint64_t from_seq, uint64_t last_seq, IoDone done) {
  auto it = segments_.lower_bound(from_seq);
  while (it != segments_.end() && it->first <= last_seq && it->second.ready &&
         it->second.queued.empty()) {
    ++it;
  }
  if (it == segments_.end() || it->first > last_seq) return remove_abandoned(std::move(done));
  const uint64_t seq = it->first;
  Segment& segment = it->second;
  if (!segment.ready) {
    // A new segment: a spare (allocated, or recycled), or else a fresh file allocated here;
    // its name synced. Taken now: if the rename fails, the retry finds the file under one
    // name or the other. Its bytes are written only once its name is durable, so a journal
    // record naming the segment always names a file that exists (or was deleted since): a
    // checkpoint that looked its name up too early skipped it, and the journal was trimmed
    // of bytes the file never got (found by the journaled store property test).
    const std::optional<std::string> spare = std::exchange(spare_, std::nullopt);
    absl::StatusOr<std::unique_ptr<File>> file =
        spare ? files_.open(*spare, OpenMode::kOpenExisting)
              : files_.open(segment_name(seq), OpenMode::kCreateIfMissing);
    if (!file.ok()) return done(file.status());
    segment.file = std::move(*file);
    auto prepared = Join::make([this, seq, last_seq, done = std::move(done)](
                                   absl::Status status) mutable {
      if (!status.ok()) return done(status);
      auto found = segments_.find(seq);
      if (found == segments_.end()) return flush_segments(seq + 1, last_seq, std::move(done));
      found->second.ready = true;
      flush_segments(seq, last_seq, std::move(done));
    });
    if (spare) {
      ++prepared->pending;
      files_.rename(*spare, segment_name(seq), [prepared](absl::Status s) { prepared->finish(s); });
    } else if (segment.file->size() < segment_bytes_) {
      prepared->pending += 2;
      segment.file->allocate(0, segment_bytes_, [prepared](absl::Status s) { prepared->finish(s); });
      segment.file->sync([prepared](absl::Status s) { prepared->finish(s); });
    }
    ++prepared->pending;
    files_.sync_dir([prepared](absl::Status s) { prepared->finish(s); });
    prepared->finish(absl::OkStatus());
    return;
  }
  auto join = Join::make([this, seq, last_seq, done = std::move(done)](absl::Status status) mutable {
    if (auto found = segments_.find(seq); found != segments_.end()) {
      Segment& flushed = found->second;
      if (status.ok()) {
        flushed.durable = flushed.written;
        // Tailing readers are served from the owner's memory; what is durable is read back
        // only by catch-up and recovery.
        // (Journaled, the file's bytes are not synced yet: its checkpoint syncs them.)
        if (flushed.file && journal_ == nullptr) flushed.file->release_cache_below(flushed.durable);
      } else if (!flushed.in_flight.empty()) {
        // Rewritten by the next flush at the same offsets: writes are idempotent.
        flushed.written -= flushed.in_flight.size();
        queued_bytes_ += flushed.in_flight.size();
        flushed.queued.insert(0, flushed.in_flight);
      }
      flushed.in_flight.clear();
    }
    if (!status.ok()) return done(status);
    flush_segments(seq + 1, last_seq, std::move(done));
  });
  if (!segment.queued.empty()) {
    const uint64_t offset = segment.written;
    segment.in_flight = std::move(segment.queued);
    segment.queued.clear();
    segment.written += segment.in_flight.size();
    queued_bytes_ -= segment.in_flight.size();
    join->pending += 2;
    segment.file->write_at(offset, segment.in_flight, [join](absl::Status s) { join->finish(s); });
    if (journal_ != nullptr) {
      // Written to the journal after the file write was submitted, so that a checkpoint's
      // sync of this file, later, covers it.
      journal_->write(prefix_, seq, offset, segment.in_flight);
      journal_->sync([join](absl::Status s) { join->finish(s); });
    } else {
      segment.file->sync([join](absl::Status s) { join->finish(s); });
    }
  }
  join->finish(absl::OkStatus());
}

// Segments cut off the chain are deleted once everything the flush wrote is durable.
void SegmentLog::remove_abandoned(IoDone done) {
  auto join = Join::make(std::move(done));
  for (const std::string& name : stale_preps_) {
    if (!files_.exists(name)) continue;
    ++join->pending;
    files_.remove(name, [join](absl::Status s) {
      join->finish(s.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : s);
    });
  }
  stale_preps_.clear();
  for (uint64_t seq : abandoned_) {
    if (!files_.exists(segment_name(seq))) continue;
    ++join->pending;
    files_.remove(segment_name(seq), [join](absl::Status s) {
      join->finish(s.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : s);
    });
  }
  abandoned_.clear();
  join->finish(absl::OkStatus());
}

void SegmentLog::read(Position position, uint64_t length, ReadDone done) {
  auto it = segments_.find(position.seq);
  if (it == segments_.end()) {
    done(absl::NotFoundError(absl::StrCat(prefix_, ": segment ", position.seq, " is gone")));
    return;
  }
  Segment& segment = it->second;
  const uint64_t end = std::min(segment.end, position.offset + length);
  if (position.offset >= end) {
    done(std::string());
    return;
  }
  // Bytes not yet completed on disk are served from memory, copied now.
  const uint64_t on_disk = segment.written - segment.in_flight.size();
  std::string memory;
  if (end > on_disk) {
    // [on_disk, written) is in_flight, [written, end) queued.
    const uint64_t from = std::max(position.offset, on_disk);
    if (from < segment.written) {
      const uint64_t upto = std::min(end, segment.written);
      memory.append(segment.in_flight, from - on_disk, upto - from);
    }
    if (end > segment.written) {
      const uint64_t at = std::max(from, segment.written);
      memory.append(segment.queued, at - segment.written, end - at);
    }
  }
  if (position.offset >= on_disk) {
    done(std::move(memory));
    return;
  }
  if (segment.file == nullptr) {
    done(absl::InternalError(absl::StrCat(prefix_, ": segment ", position.seq, " has no file")));
    return;
  }
  const uint64_t disk_length = std::min(end, on_disk) - position.offset;
  File* file = segment.file.get();
  file->read_at(
      position.offset, disk_length,
      [file, offset = position.offset, disk_length, memory = std::move(memory),
       done = std::move(done)](absl::StatusOr<std::string> bytes) mutable {
        if (bytes.ok()) bytes->append(memory);
        if (bytes.ok() || bytes.status().code() != absl::StatusCode::kDataLoss) {
          return done(std::move(bytes));
        }
        // A latent error (EIO) somewhere in the range: read around it, so the caller loses only
        // the records in the bad sector (they fail their checks), not everything behind it.
        SectorSalvage::run(*file, offset, disk_length,
                           [memory = std::move(memory), done = std::move(done)](
                               std::string salvaged, uint64_t) mutable {
                             salvaged.append(memory);
                             done(std::move(salvaged));
                           });
      });
}

void SegmentLog::delete_before(uint64_t seq, IoDone done) {
  auto countdown = std::make_shared<Join>();
  countdown->pending = 1;
  countdown->done = std::move(done);
  bool have_spare = spare_.has_value() || preparing_.has_value() || recycling_;
  for (auto it = segments_.begin(); it != segments_.end() && it->first < seq;) {
    WALLE_CHECK(it->first != head_seq_);
    if (!it->second.ready || !it->second.queued.empty() || !it->second.in_flight.empty()) break;
    const std::string name = segment_name(it->first);
    const bool recycle = !have_spare && it->second.ready && it->second.in_flight.empty() &&
                         it->second.file != nullptr && it->second.file->size() == segment_bytes_;
    it->second.file.reset();
    ++countdown->pending;
    if (recycle) {
      // A spare only once renamed: a flush that took it sooner found no file of that name
      // (found by the journal, whose trims and flushes interleave).
      have_spare = true;
      recycling_ = true;
      files_.rename(name, spare_name(it->first),
                    [this, alive = std::weak_ptr<bool>(alive_), countdown,
                     spare = spare_name(it->first)](absl::Status s) {
                      if (!alive.expired()) {
                        recycling_ = false;
                        if (s.ok() && !spare_ && !preparing_) {
                          spare_ = spare;
                        } else {
                          stale_preps_.push_back(spare);
                        }
                      }
                      countdown->finish(s);
                    });
    } else {
      files_.remove(name, [countdown](absl::Status s) { countdown->finish(s); });
    }
    it = segments_.erase(it);
  }
  ++countdown->pending;
  files_.sync_dir([countdown](absl::Status s) { countdown->finish(s); });
  countdown->finish(absl::OkStatus());
}

void SegmentLog::remove_all(IoDone done) {
  auto countdown = std::make_shared<Join>();
  countdown->pending = 1;
  countdown->done = std::move(done);
  const std::string dot = prefix_ + ".";
  for (const std::string& name : files_.list(dot)) {
    ++countdown->pending;
    files_.remove(name, [countdown](absl::Status s) { countdown->finish(s); });
  }
  segments_.clear();
  head_seq_ = 0;
  head_end_ = 0;
  queued_bytes_ = 0;
  spare_.reset();
  if (preparing_) {
    // Its file was just removed; its pending operations still need the handle.
    ++prepare_generation_;
    retired_prep_file_ = std::move(preparing_->file);
    preparing_.reset();
  }
  ++countdown->pending;
  files_.sync_dir([countdown](absl::Status s) { countdown->finish(s); });
  countdown->finish(absl::OkStatus());
}


// What every public call leaves true. The head is the only segment appended to, so its bytes
// are exactly written + queued; cut() may leave an older segment ending before what was
// written (its bytes past the end are abandoned), never after what is written and queued.
//
// Bounded work: segments are made durable oldest first and only the head grows, so the ones
// not settled (durable, nothing queued or being written) are the newest few; the walk stops
// at the first settled one, and the queued bytes are all in the segments it saw.
void SegmentLog::check_invariants() const {
  WALLE_CHECK((head_seq_ == 0) == segments_.empty());
  WALLE_CHECK(head_seq_ < next_seq_);
  if (head_seq_ != 0) {
    WALLE_CHECK(segments_.rbegin()->first == head_seq_);  // the newest segment is the head
    const Segment& head = segments_.rbegin()->second;
    WALLE_CHECK(head_end_ == head.end);
    WALLE_CHECK(head.written + head.queued.size() == head.end);
  }
  WALLE_CHECK(marked_appends_ <= owner_appends_);
  WALLE_CHECK(!(spare_ && preparing_));  // one spare at a time
  WALLE_CHECK(!preparing_ || preparing_->seq < next_seq_);  // file: null while renamed
  WALLE_CHECK(flushing_ || waiting_.empty());  // sync() starts a flush at once
  uint64_t queued = 0;
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    const Segment& segment = it->second;
    WALLE_CHECK(segment.durable <= segment.written);
    WALLE_CHECK(segment.in_flight.size() <= segment.written);
    WALLE_CHECK(flushing_ || segment.in_flight.empty());  // only a flush has writes out
    WALLE_CHECK(segment.end <= segment.written + segment.queued.size());
    WALLE_CHECK(!segment.ready || segment.file != nullptr);
    queued += segment.queued.size();
    if (segment.ready && segment.queued.empty() && segment.in_flight.empty() &&
        segment.durable == segment.written) {
      break;
    }
  }
  WALLE_CHECK(queued == queued_bytes_);
}

}  // namespace walle::storage
