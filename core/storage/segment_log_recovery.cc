// SegmentLog recovery: read every segment's header, follow the chain back from the newest,
// then scan the chain's segments in order, reporting records and holes (docs/storage.md).

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/storage/records.h"
#include "core/storage/sector_salvage.h"
#include "core/storage/segment_log.h"
#include "core/storage/sync_mark.h"
#include "core/util/check.h"

namespace walle::storage {

class SegmentLog::Recovery : public std::enable_shared_from_this<SegmentLog::Recovery> {
 public:
  Recovery(std::unique_ptr<SegmentLog> log, Visitor visitor,
           absl::AnyInvocable<void(absl::StatusOr<Recovered>)> done)
      : log_(std::move(log)), visitor_(std::move(visitor)), done_(std::move(done)) {}

  void start() {
    const std::string dot = log_->prefix_ + ".";
    for (const std::string& name : log_->files_.list(dot)) {
      uint64_t seq;
      const std::string rest = name.substr(dot.size());
      if (rest.rfind("spare.", 0) == 0) {
        // A spare's old number is never reused (see spare_name()).
        if (absl::SimpleAtoi(rest.substr(6), &seq)) {
          log_->next_seq_ = std::max(log_->next_seq_, seq + 1);
          if (!log_->spare_) log_->spare_ = name;
        }
        continue;
      }
      if (rest.rfind("prep.", 0) == 0) {
        // A spare a crash interrupted: deleted by the first flush; its number is not reused.
        if (absl::SimpleAtoi(rest.substr(5), &seq)) {
          log_->next_seq_ = std::max(log_->next_seq_, seq + 1);
        }
        log_->stale_preps_.push_back(name);
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
      if (!clean_end) {
        result_.torn_tail_bytes += static_cast<uint64_t>(
            std::count_if(bytes.begin() + static_cast<std::ptrdiff_t>(stop), bytes.end(),
                          [](char c) { return c != 0; }));
      }
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
