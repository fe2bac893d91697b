// StreamStore::read: streams entries from the live and backfill logs, merged in id order,
// one chunk at a time, so memory stays bounded whatever the range.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/storage/records.h"
#include "core/storage/stream_store.h"

namespace walle::storage {

class StreamStore::Reader : public std::enable_shared_from_this<StreamStore::Reader> {
 public:
  Reader(StreamStore& store, uint64_t from, uint64_t to, uint64_t max_bytes, ReadDone done)
      : s_(store), next_id_(from), to_(to), max_bytes_(max_bytes), done_(std::move(done)) {}

  // Positions on the next wanted id and reads from there.
  void next() {
    if (next_id_ >= to_ || (bytes_ >= max_bytes_ && !out_.empty())) return finish_ok();
    const uint64_t id = next_id_;
    LogIndex* index = nullptr;
    SegmentLog* log = nullptr;
    if (s_.live_index_.contains(id)) {
      index = &s_.live_index_;
      log = s_.live_.get();
    } else if (s_.fill_index_.contains(id)) {
      index = &s_.fill_index_;
      log = s_.fill_.get();
    } else {
      return fail(absl::DataLossError(absl::StrCat(
          "stream ", s_.name_, ": entry ", id, " is missing on this server (awaiting repair)")));
    }
    SegmentLog::Position position;
    uint64_t length = chunk_bytes();
    const std::optional<SegmentLog::Position> exact =
        index != &s_.live_index_ ? std::nullopt
        : id >= s_.window_first_ && id <= s_.tail_id() && s_.window_[id - s_.window_first_].known
            ? std::optional(s_.window_[id - s_.window_first_].position)
            : s_.recent_position(id);
    if (exact) {
      position = *exact;
      // The record starts right there: for a few ids, a whole chunk would mostly copy bytes
      // nobody asked for (a record that does not fit makes the next read twice as long).
      if (to_ - id <= kFewIds) length = std::min(length, kBytesPerFewId * (to_ - id));
    } else {
      std::optional<SegmentLog::Position> located = index->locate(id);
      if (!located) {
        return fail(absl::InternalError(
            absl::StrCat("stream ", s_.name_, ": no index point at or below ", id)));
      }
      position = *located;
    }
    index_ = index;
    read_from(log, position, length);
  }

 private:
  static constexpr uint64_t kFewIds = 8;
  static constexpr uint64_t kBytesPerFewId = 4096;

  // Tiny chunks now and then, so records straddling chunk ends are the normal case in sims.
  uint64_t chunk_bytes() const {
    return WALLE_BUGGIFY(s_.options_.buggify, kBuggifyTinyReadChunks) ? 64 : s_.options_.read_chunk_bytes;
  }

  void read_from(SegmentLog* log, SegmentLog::Position position, uint64_t length) {
    log->read(
        position, length,
        [self = shared_from_this(), log, position, length](absl::StatusOr<std::string> bytes) {
          self->parse(log, position, length, std::move(bytes));
        });
  }

  void parse(SegmentLog* log, SegmentLog::Position position, uint64_t length,
             absl::StatusOr<std::string> bytes) {
    if (!bytes.ok()) {
      if (bytes.status().code() == absl::StatusCode::kDataLoss) s_.lose(next_id_);
      return fail(absl::Status(bytes.status().code(),
                               absl::StrCat("stream ", s_.name_, ": reading entry ", next_id_, ": ",
                                            bytes.status().message())));
    }
    RecordReader reader(*bytes, position.offset, log->seed_for(position.seq));
    RecordView record;
    std::optional<uint64_t> previous_id;  // of the entry record before this one, in this scan
    for (;;) {
      const RecordReader::Result result = reader.next(record);
      if (result == RecordReader::Result::kRecord) {
        if (record.type != RecordType::kEntry) continue;
        std::optional<EntryRecord> r = decode_payload<EntryRecord>(record.payload);
        if (!r) return corrupt("undecodable record");
        const std::optional<uint64_t> before = previous_id;
        previous_id = r->entry.id;
        if (r->entry.id < next_id_) continue;
        // A record for the wanted id must sit where that id belongs: after lower ids, and
        // chaining from its predecessor (when we hold it). An old record
        // copied elsewhere by a misdirected write passes its own checks but fails these.
        if (r->entry.id == next_id_ && !is_in_place(before, r->entry)) continue;
        if (r->entry.id > next_id_)
          return jump_or_corrupt(log, SegmentLog::Position{position.seq, record.offset},
                                 "entry absent where the index puts it");
        take(std::move(r->entry), record.size);
        // The live log's copy wins, as in next(): a backfill log may also hold the id (one
        // refilled above a commit point a crash lost, kept again once the commit point is
        // back), but only the live copy carries the window's writer.
        if (next_id_ >= to_ || bytes_ >= max_bytes_ || !index_->contains(next_id_) ||
            (index_ == &s_.fill_index_ && s_.live_index_.contains(next_id_))) {
          return next();
        }
        continue;
      }
      const uint64_t got = bytes->size();
      const bool segment_ended = got < length;
      if (result == RecordReader::Result::kEnd ||
          (result == RecordReader::Result::kIncomplete && segment_ended)) {
        // The segment ended: the index says where the next wanted id is (the backfill log's
        // segments are not in id order, so "the next segment" would be wrong).
        return jump_or_corrupt(log, SegmentLog::Position{position.seq, UINT64_MAX},
                               "log ends before the entry");
      }
      if (result == RecordReader::Result::kIncomplete) {
        // The chunk ended inside a record: read on from it, larger if it alone did not fit.
        const bool progressed = reader.offset() > position.offset;
        return read_from(log, SegmentLog::Position{position.seq, reader.offset()},
                         progressed ? length : length * 2);
      }
      // Damaged bytes (rot, or a sector the log could not read): the wanted record may lie
      // beyond them in this chunk; if it was among them, the next valid record is a later
      // id, and the id is lost above.
      if (std::optional<uint64_t> valid = reader.find_next_valid()) {
        reader.seek(*valid);
        continue;
      }
      return jump_or_corrupt(log, SegmentLog::Position{position.seq, reader.offset()},
                             "record fails its checksum");
    }
  }

  // The scan for next_id_ stopped at `stopped` (end of segment, damaged bytes, or a later
  // id). The index may know a later place to start (the next segment; the first entry after
  // damage recovery found): go there. Only forward, so this always ends.
  // In the backfill log a lower id refilled later sits in a newer segment, so the scan that
  // took id-1 there may have to go back to an older one for id (backfilling 3, 2, 1 lost 2,
  // found by the backfill regression test): any other segment will do. That still ends, as
  // locate() always names the same segment for an id, and within it only forward counts.
  void jump_or_corrupt(SegmentLog* log, SegmentLog::Position stopped, const char* what) {
    std::optional<SegmentLog::Position> next = index_->locate(next_id_);
    const bool other_segment =
        next && (index_ == &s_.fill_index_ ? next->seq != stopped.seq : next->seq > stopped.seq);
    if (next &&
        (other_segment || (next->seq == stopped.seq && stopped.offset != UINT64_MAX &&
                           next->offset > stopped.offset))) {
      return read_from(log, *next, chunk_bytes());
    }
    corrupt(what);
  }

  bool is_in_place(std::optional<uint64_t> before, const Entry& entry) const {
    // Ids only grow within a segment (gap commits and backfill may skip some).
    if (before && *before >= entry.id) return false;
    if (!out_.empty() && out_.back().id + 1 == entry.id &&
        chain_checksum(out_.back().checksum, entry.data) != entry.checksum) {
      return false;
    }
    const uint64_t id = entry.id;
    if (id >= s_.window_first_ && id <= s_.tail_id() && s_.window_[id - s_.window_first_].known &&
        s_.window_[id - s_.window_first_].checksum != entry.checksum) {
      return false;
    }
    return true;
  }

  void take(Entry entry, uint64_t record_bytes) {
    const uint64_t id = entry.id;
    if (id >= s_.window_first_ && id <= s_.tail_id()) {
      const WindowEntry& w = s_.window_[id - s_.window_first_];
      if (w.stamped) entry.writer = w.writer;
    }
    bytes_ += record_bytes;
    out_.push_back(std::move(entry));
    ++next_id_;
  }

  // The stored copy of next_id_ is damaged: it is never served, and becomes missing.
  void corrupt(const char* what) {
    s_.lose(next_id_);
    fail(absl::DataLossError(absl::StrCat("stream ", s_.name_, ": entry ", next_id_, ": ", what,
                                          "; marked missing for repair")));
  }

  void fail(absl::Status status) {
    // Entries already read are good; the caller gets them and meets the error next time.
    if (!out_.empty()) return finish_ok();
    done_(std::move(status));
  }

  void finish_ok() { done_(std::move(out_)); }

  StreamStore& s_;
  uint64_t next_id_;
  uint64_t to_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  LogIndex* index_ = nullptr;
  std::vector<Entry> out_;
  ReadDone done_;
};

void StreamStore::read(uint64_t from, uint64_t to, uint64_t max_bytes, bool allow_uncommitted,
                       ReadDone done) {
  if (dropped_) {
    done(check_writable());
    return;
  }
  if (from < meta_.first_entry_id) {
    done(absl::NotFoundError(
        absl::StrCat("stream ", name_, ": entries below ", meta_.first_entry_id, " were trimmed")));
    return;
  }
  const uint64_t limit = allow_uncommitted ? tail_id() : committed_;
  if (from > limit) {
    done(absl::OutOfRangeError(absl::StrCat("stream ", name_, ": entry ", from, " is beyond ",
                                            allow_uncommitted ? "the tail " : "the committed id ",
                                            limit)));
    return;
  }
  to = std::min(to, limit + 1);
  if (from >= to) {
    done(std::vector<Entry>());
    return;
  }
  std::make_shared<Reader>(*this, from, to, max_bytes, std::move(done))->next();
}

}  // namespace walle::storage
