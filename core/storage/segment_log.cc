#include "core/storage/segment_log.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/storage/records.h"
#include "core/util/check.h"
#include "core/util/join.h"

namespace walle::storage {
namespace {

// kSyncMark: every byte of the log before `durable_end` was durable when the mark was queued.
struct SyncMark {
  SegmentLog::Position durable_from;
  SegmentLog::Position durable_end;
  std::string owner_state;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(durable_from, durable_end, owner_state);
  }
};

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// Reads [offset, offset + length) of `file` one sector at a time, retrying each a few times;
// a sector that stays unreadable (a latent error) becomes bytes that fail every record check,
// so callers see a hole where the sector was instead of losing the whole range.
class SectorSalvage : public std::enable_shared_from_this<SectorSalvage> {
 public:
  using Done = absl::AnyInvocable<void(std::string bytes, uint64_t unreadable_bytes)>;
  static constexpr uint64_t kSectorBytes = 512;
  static constexpr int kReadAttempts = 4;

  static void run(File& file, uint64_t offset, uint64_t length, Done done) {
    std::shared_ptr<SectorSalvage> salvage(
        new SectorSalvage(file, offset, offset + length, std::move(done)));
    salvage->next(0);
  }

 private:
  SectorSalvage(File& file, uint64_t offset, uint64_t end, Done done)
      : file_(file), offset_(offset), end_(end), done_(std::move(done)) {}

  void next(int attempt) {
    if (offset_ >= end_) return done_(std::move(bytes_), unreadable_);
    // Sector-aligned pieces, so one bad sector costs only itself.
    const uint64_t length = std::min(kSectorBytes - offset_ % kSectorBytes, end_ - offset_);
    file_.read_at(offset_, length,
                  [self = shared_from_this(), length, attempt](absl::StatusOr<std::string> bytes) {
                    if (!bytes.ok() && attempt < kReadAttempts) return self->next(attempt + 1);
                    if (bytes.ok()) {
                      self->bytes_.append(*bytes);
                    } else {
                      self->unreadable_ += length;
                      self->bytes_.append(length, static_cast<char>(0xa5));
                    }
                    self->offset_ += length;
                    self->next(0);
                  });
  }

  File& file_;
  uint64_t offset_;
  uint64_t end_;
  Done done_;
  std::string bytes_;
  uint64_t unreadable_ = 0;
};

}  // namespace

SegmentLog::SegmentLog(FileSystem& files, std::string prefix, uint64_t seed, uint64_t segment_bytes)
    : files_(files), prefix_(std::move(prefix)), seed_(seed), segment_bytes_(segment_bytes) {}

SegmentLog::~SegmentLog() = default;

std::string SegmentLog::segment_name(uint64_t seq) const {
  return absl::StrFormat("%s.%08d", prefix_, seq);
}

std::string SegmentLog::spare_name(uint64_t old_seq) const {
  return absl::StrCat(prefix_, ".spare.", old_seq);
}

std::optional<std::string> SegmentLog::find_spare() const {
  const std::string spare_prefix = prefix_ + ".spare.";
  for (const std::string& name : files_.list()) {
    if (name.rfind(spare_prefix, 0) == 0) return name;
  }
  return std::nullopt;
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
// one's are durable. Written side by side, a failed write (ENOSPC zero-filling a new file)
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
  auto join = Join::make([this, seq, last_seq, done = std::move(done)](absl::Status status) mutable {
    if (auto found = segments_.find(seq); found != segments_.end()) {
      Segment& flushed = found->second;
      if (status.ok()) {
        flushed.durable = flushed.written;
        flushed.ready = true;  // only now: a zero fill that failed is redone by the next flush
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
  if (!segment.ready) {
    // A new segment: a recycled spare, or a fresh file written with zeros, its name synced.
    const std::optional<std::string> spare = find_spare();
    absl::StatusOr<std::unique_ptr<File>> file =
        spare ? files_.open(*spare, OpenMode::kOpenExisting)
              : files_.open(segment_name(seq), OpenMode::kCreateIfMissing);
    if (!file.ok()) {
      join->finish(file.status());
      return;
    }
    segment.file = std::move(*file);
    if (spare) {
      ++join->pending;
      files_.rename(*spare, segment_name(seq), [join](absl::Status s) { join->finish(s); });
    } else if (segment.file->size() < segment_bytes_) {
      join->pending += 2;
      segment.file->zero_fill(0, segment_bytes_, [join](absl::Status s) { join->finish(s); });
      segment.file->sync([join](absl::Status s) { join->finish(s); });
    }
    ++join->pending;
    files_.sync_dir([join](absl::Status s) { join->finish(s); });
  }
  if (!segment.queued.empty()) {
    const uint64_t offset = segment.written;
    segment.in_flight = std::move(segment.queued);
    segment.queued.clear();
    segment.written += segment.in_flight.size();
    queued_bytes_ -= segment.in_flight.size();
    join->pending += 2;
    segment.file->write_at(offset, segment.in_flight, [join](absl::Status s) { join->finish(s); });
    segment.file->sync([join](absl::Status s) { join->finish(s); });
  }
  join->finish(absl::OkStatus());
}

// Segments cut off the chain are deleted once everything the flush wrote is durable.
void SegmentLog::remove_abandoned(IoDone done) {
  auto join = Join::make(std::move(done));
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
  bool have_spare = find_spare().has_value();
  for (auto it = segments_.begin(); it != segments_.end() && it->first < seq;) {
    WALLE_CHECK(it->first != head_seq_);
    const std::string name = segment_name(it->first);
    const bool recycle = !have_spare && it->second.ready && it->second.in_flight.empty() &&
                         it->second.file != nullptr && it->second.file->size() == segment_bytes_;
    it->second.file.reset();
    ++countdown->pending;
    if (recycle) {
      have_spare = true;
      files_.rename(name, spare_name(it->first),
                    [countdown](absl::Status s) { countdown->finish(s); });
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
  for (const std::string& name : files_.list()) {
    if (name.rfind(dot, 0) != 0) continue;
    ++countdown->pending;
    files_.remove(name, [countdown](absl::Status s) { countdown->finish(s); });
  }
  segments_.clear();
  head_seq_ = 0;
  head_end_ = 0;
  queued_bytes_ = 0;
  ++countdown->pending;
  files_.sync_dir([countdown](absl::Status s) { countdown->finish(s); });
  countdown->finish(absl::OkStatus());
}

// ---------------------------------------------------------------------------------------------
// Recovery: read every segment's header, follow the chain back from the newest, then scan the
// chain's segments in order, reporting records and holes.

class SegmentLog::Recovery : public std::enable_shared_from_this<SegmentLog::Recovery> {
 public:
  Recovery(std::unique_ptr<SegmentLog> log, Visitor visitor,
           absl::AnyInvocable<void(absl::StatusOr<Recovered>)> done)
      : log_(std::move(log)), visitor_(std::move(visitor)), done_(std::move(done)) {}

  void start() {
    const std::string dot = log_->prefix_ + ".";
    for (const std::string& name : log_->files_.list()) {
      if (name.rfind(dot, 0) != 0) continue;
      uint64_t seq;
      const std::string rest = name.substr(dot.size());
      if (rest.rfind("spare.", 0) == 0) {
        // A spare's old number is never reused (see spare_name()).
        if (absl::SimpleAtoi(rest.substr(6), &seq)) {
          log_->next_seq_ = std::max(log_->next_seq_, seq + 1);
        }
        continue;
      }
      if (!absl::SimpleAtoi(rest, &seq) || seq == 0) continue;
      candidates_.push_back(seq);
      log_->next_seq_ = std::max(log_->next_seq_, seq + 1);
    }
    std::sort(candidates_.begin(), candidates_.end());
    read_headers(0);
  }

 private:
  struct Candidate {
    std::unique_ptr<File> file;
    std::optional<SegmentHeader> header;
  };

  void fail(absl::Status status) { done_(std::move(status)); }

  void read_headers(size_t i) {
    if (i == candidates_.size()) {
      build_chain();
      return;
    }
    const uint64_t seq = candidates_[i];
    absl::StatusOr<std::unique_ptr<File>> file =
        log_->files_.open(log_->segment_name(seq), OpenMode::kOpenExisting);
    if (!file.ok()) return fail(file.status());
    found_[seq].file = std::move(*file);
    read_header(i, 0);
  }

  // Reads segment i's header record: its first sector, then the rest of the record if it is
  // longer, so that damage elsewhere in the segment does not hide the header.
  void read_header(size_t i, int attempt, uint64_t length = 512) {
    const uint64_t seq = candidates_[i];
    File* f = found_.at(seq).file.get();
    f->read_at(
        0, length,
        [self = shared_from_this(), seq, i, attempt, length](absl::StatusOr<std::string> bytes) {
          if (!bytes.ok() && attempt < kReadAttempts) {
            return self->read_header(i, attempt + 1, length);  // transient errors pass
          }
          if (bytes.ok()) {
            RecordReader reader(*bytes, 0, self->log_->seed_for(seq));
            RecordView record;
            const RecordReader::Result result = reader.next(record);
            if (result == RecordReader::Result::kIncomplete && bytes->size() == length &&
                length == 512 && bytes->size() >= kRecordHeaderBytes) {
              uint32_t payload_bytes;
              std::memcpy(&payload_bytes, bytes->data() + 4, 4);
              if (payload_bytes <= kMaxRecordPayloadBytes) {
                return self->read_header(i, 0, record_size(payload_bytes));
              }
            }
            if (result == RecordReader::Result::kRecord &&
                record.type == RecordType::kSegmentHeader) {
              std::optional<SegmentHeader> header = decode_payload<SegmentHeader>(record.payload);
              if (header && header->seq == seq) self->found_[seq].header = header;
            }
            const bool never_written =
                std::all_of(bytes->begin(), bytes->end(), [](char c) { return c == 0; });
            if (!self->found_[seq].header && !never_written) self->note_damaged_header(seq);
          } else {
            self->note_damaged_header(seq);
          }
          // An unreadable header makes the segment dead, like a torn one.
          self->read_headers(i + 1);
        });
  }

  void note_damaged_header(uint64_t seq) {
    ++result_.damaged_headers;
    result_.newest_damaged_header = std::max(result_.newest_damaged_header, seq);
  }

  void build_chain() {
    // The newest segment with a valid header is the head; each header names its predecessor.
    for (auto it = found_.rbegin(); it != found_.rend(); ++it) {
      if (it->second.header) {
        uint64_t seq = it->first;
        uint64_t limit = it->second.file->size();
        for (;;) {
          chain_.push_back({seq, limit});
          const SegmentHeader& h = *found_.at(seq).header;
          auto prev = found_.find(h.previous_seq);
          if (h.previous_seq == 0 || h.previous_seq >= seq || prev == found_.end()) break;
          if (!prev->second.header) {
            // The predecessor exists but its header is damaged: its own predecessor is
            // unknown, so the chain ends here; older segments are kept, not replayed.
            result_.broken_chain = true;
            break;
          }
          seq = h.previous_seq;
          limit = std::min(h.previous_end, prev->second.file->size());
        }
        break;
      }
    }
    std::reverse(chain_.begin(), chain_.end());
    for (const auto& [seq, candidate] : found_) {
      const bool on_chain = std::any_of(chain_.begin(), chain_.end(),
                                        [seq = seq](const auto& c) { return c.first == seq; });
      if (!on_chain) {
        ++result_.dead_segments;
        // With a broken chain, older segments may hold data nobody can order: keep them for an
        // operator (and never reuse their numbers), rather than delete them.
        if (!result_.broken_chain || seq > chain_.front().first) log_->abandoned_.push_back(seq);
      }
    }
    scan(0);
  }

  void scan(size_t i) {
    if (i == chain_.size()) {
      finish();
      return;
    }
    const auto [seq, limit] = chain_[i];
    File* file = found_.at(seq).file.get();
    file->read_at(0, limit, [self = shared_from_this(), i](absl::StatusOr<std::string> bytes) {
      if (bytes.ok()) return self->scan_bytes(i, *bytes);
      // Some sector cannot be read: salvage the segment sector by sector.
      const auto [seq, limit] = self->chain_[i];
      SectorSalvage::run(*self->found_.at(seq).file, 0, limit,
                         [self, i](std::string salvaged, uint64_t unreadable) {
                           self->result_.unreadable_bytes += unreadable;
                           self->scan_bytes(i, salvaged);
                         });
    });
  }

  Position next_start(size_t i) const {
    if (i + 1 < chain_.size()) return Position{chain_[i + 1].first, 0};
    return Position{chain_[i].first, chain_[i].second};
  }

  void scan_bytes(size_t i, const std::string& bytes) {
    const uint64_t seq = chain_[i].first;
    const bool head = i + 1 == chain_.size();
    RecordReader reader(bytes, 0, log_->seed_for(seq));
    RecordView record;
    uint64_t stop = bytes.size();
    bool clean_end = true;
    bool first = true;
    for (;;) {
      const RecordReader::Result result = reader.next(record);
      if (result == RecordReader::Result::kRecord) {
        ++result_.records;
        if (record.type == RecordType::kSyncMark) {
          note_sync_mark(record, Position{seq, record.offset});
        } else if (record.type == RecordType::kSegmentHeader) {
          if (first) {
            std::optional<SegmentHeader> header = decode_payload<SegmentHeader>(record.payload);
            if (header && visitor_.on_segment) {
              visitor_.on_segment(header->owner_state, Position{seq, record.offset});
            }
          }
        } else {
          visitor_.on_record(record, Position{seq, record.offset});
        }
        first = false;
        continue;
      }
      first = false;
      if (result == RecordReader::Result::kEnd ||
          (result == RecordReader::Result::kIncomplete && reader.offset() == bytes.size())) {
        stop = reader.offset();
        clean_end = all_zero(std::string_view(bytes).substr(stop));
        break;
      }
      // Bad or cut-short bytes: a hole if a valid record follows, else the end.
      std::optional<uint64_t> next = reader.find_next_valid();
      if (next) {
        result_.holes = true;
        visitor_.on_hole(Position{seq, reader.offset()}, Position{seq, *next});
        reader.seek(*next);
        continue;
      }
      stop = reader.offset();
      clean_end = all_zero(std::string_view(bytes).substr(stop));
      break;
    }
    if (head) {
      result_.valid_end = Position{seq, stop};
      for (uint64_t k = stop; k < bytes.size(); ++k) result_.torn_tail_bytes += bytes[k] != 0;
    } else if (stop < chain_[i].second) {
      // A segment ends before its successor says it should: its last writes were lost.
      result_.holes = true;
      visitor_.on_hole(Position{seq, stop}, next_start(i));
    }
    adopt(i, stop, clean_end);
    scan(i + 1);
  }

  // A mark can only vouch for bytes written before it; one that claims more is not ours.
  void note_sync_mark(const RecordView& record, Position at) {
    std::optional<SyncMark> mark = decode_payload<SyncMark>(record.payload);
    if (!mark || mark->durable_end > at || mark->durable_from > mark->durable_end) return;
    Position& end = result_.vouched[mark->durable_from];
    end = std::max(end, mark->durable_end);
    if (visitor_.on_sync_mark) visitor_.on_sync_mark(mark->owner_state, at);
  }

  void adopt(size_t i, uint64_t end, bool clean_end) {
    const uint64_t seq = chain_[i].first;
    Segment& segment = log_->segments_[seq];
    segment.file = std::move(found_.at(seq).file);
    segment.end = segment.written = segment.durable = end;
    segment.ready = true;
    log_->head_seq_ = seq;
    log_->head_end_ = end;
    // Stale or torn bytes after the end: never append over them, start a new segment.
    if (!clean_end) {
      log_->cut_seq_ = seq;
      log_->cut_end_ = end;
      log_->needs_new_segment_ = true;
    } else {
      log_->needs_new_segment_ = false;
    }
    ++result_.segments;
  }

  void finish() {
    if (chain_.empty()) log_->needs_new_segment_ = true;
    // What this recovery judged is never vouched for again (a hole it found stays a hole).
    log_->vouch_from_ = log_->end();
    if (result_.holes && !chain_.empty()) {
      // Appends after damaged bytes would be found only by scanning across them: continue in
      // a new segment instead.
      log_->cut_seq_ = log_->head_seq_;
      log_->cut_end_ = log_->head_end_;
      log_->needs_new_segment_ = true;
    }
    result_.log = std::move(log_);
    done_(std::move(result_));
  }

  std::unique_ptr<SegmentLog> log_;
  Visitor visitor_;
  absl::AnyInvocable<void(absl::StatusOr<Recovered>)> done_;
  std::vector<uint64_t> candidates_;
  absl::btree_map<uint64_t, Candidate> found_;
  std::vector<std::pair<uint64_t, uint64_t>> chain_;  // seq, valid-bytes limit
  Recovered result_;
  static constexpr int kReadAttempts = 4;
};

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

void SegmentLog::open(FileSystem& files, std::string prefix, uint64_t seed, uint64_t segment_bytes,
                      Visitor visitor, absl::AnyInvocable<void(absl::StatusOr<Recovered>)> done) {
  if (segment_bytes < 4096 || segment_bytes % kRecordAlignment != 0) {
    done(absl::InvalidArgumentError(
        absl::StrCat("segment_bytes=", segment_bytes, " must be a multiple of 8, >= 4096")));
    return;
  }
  auto log =
      std::unique_ptr<SegmentLog>(new SegmentLog(files, std::move(prefix), seed, segment_bytes));
  auto recovery = std::make_shared<Recovery>(std::move(log), std::move(visitor), std::move(done));
  recovery->start();
}

}  // namespace walle::storage
