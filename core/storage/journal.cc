#include "core/storage/journal.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/storage/records.h"
#include "core/util/check.h"
#include "core/util/join.h"

namespace walle::storage {
namespace {

constexpr uint64_t kJournalSeed = 0x6a6f75726e616c;  // "journal"
constexpr uint64_t kMaxRedoOffset = 1ULL << 40;       // far beyond any segment

// kJournalWrite: bytes a log wrote at `offset` of its segment `seq`.
struct JournalWrite {
  std::string prefix;
  uint64_t seq = 0;
  uint64_t offset = 0;
  std::string bytes;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(prefix, seq, offset, bytes);
  }
};

}  // namespace

absl::Status JournalOptions::validate() const {
  if (segment_bytes < 8192 || segment_bytes % kRecordAlignment != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "journal segment_bytes=", segment_bytes, " must be a multiple of 8, >= 8192"));
  }
  if (checkpoint_segments < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("journal checkpoint_segments=", checkpoint_segments, " must be >= 2"));
  }
  if (checkpoint_parallelism < 1) {
    return absl::InvalidArgumentError("journal checkpoint_parallelism must be >= 1");
  }
  return absl::OkStatus();
}

// Journal::open's work: recover the journal log, write every valid record back into its
// segment file as it is read (in journal order: a later write of the same bytes wins, and
// they are the same bytes), then sync each file touched.
class Journal::Redo : public std::enable_shared_from_this<Journal::Redo> {
 public:
  Redo(FileSystem& files, const JournalOptions& options, OpenDone done)
      : files_(files), options_(options), done_(std::move(done)) {}

  void start() {
    auto self = shared_from_this();
    SegmentLog::Visitor visitor{
        [self](const RecordView& record, SegmentLog::Position) { self->on_record(record); },
        [self](SegmentLog::Position, SegmentLog::Position) { self->recovery_.holes = true; },
        [](std::string_view, SegmentLog::Position) {},
        [](std::string_view, SegmentLog::Position) {}};
    SegmentLog::open(files_, std::string(kPrefix), kJournalSeed, options_.segment_bytes,
                     std::move(visitor),
                     [self](absl::StatusOr<SegmentLog::Recovered> recovered) {
                       self->on_recovered(std::move(recovered));
                     });
  }

 private:
  void on_record(const RecordView& record) {
    ++recovery_.records;
    if (record.type != RecordType::kJournalWrite) return;  // passed its checks: not ours to judge
    std::optional<JournalWrite> write = decode_payload<JournalWrite>(record.payload);
    // Passed its checksums yet names no file of ours or an absurd offset: a bug or a forged
    // file; never redone.
    if (!write || write->seq == 0 || write->offset > kMaxRedoOffset ||
        !ValidateFileName(segment_file_name(write->prefix, write->seq)).ok()) {
      ++recovery_.invalid_records;
      return;
    }
    uint64_t& max_seq = max_seq_[write->prefix];
    max_seq = std::max(max_seq, write->seq);
    const std::string name = segment_file_name(write->prefix, write->seq);
    auto it = touched_.find(name);
    if (it == touched_.end()) {
      if (!files_.exists(name)) {  // trimmed, cut off or dropped since: nothing to redo
        ++recovery_.skipped_writes;
        return;
      }
      absl::StatusOr<std::unique_ptr<File>> file = files_.open(name, OpenMode::kOpenExisting);
      if (!file.ok()) return note_error(file.status());
      it = touched_.emplace(name, std::move(*file)).first;
    }
    ++recovery_.redone_writes;
    // A segment's writes are contiguous in journal order (a rewrite after a failed write
    // starts again where that one did), so a write past the end of the previous one means the
    // records between are not in the journal: torn (never acknowledged; what landed of them
    // may have been recovered and built on, so it is never touched) or lost to rot. If the
    // file holds zeros where the gap begins, nothing of it landed: redone as it is, the gap
    // would read as the end of the log, silently dropping every redone write after it. One
    // word that fails every check marks it instead: recovery, at a bad record, searches on
    // for the next valid one, so the gap reads as a hole (found by the journal test of a
    // rotten record).
    auto [end, first] = ends_.try_emplace(name, write->offset + write->bytes.size());
    if (!first) {
      if (write->offset > end->second) mark_if_never_written(it->second.get(), end->second);
      end->second = std::max(end->second, write->offset + write->bytes.size());
    }
    it->second->write_at(write->offset, std::move(write->bytes), io_started());
  }

  // Counts one operation out; its callback notes the result, and the files are synced once
  // the log is recovered and nothing is out.
  IoDone io_started() {
    ++writes_out_;
    return [self = shared_from_this()](absl::Status s) {
      self->note_error(s);
      --self->writes_out_;
      self->maybe_sync_files();
    };
  }

  void mark_if_never_written(File* file, uint64_t at) {
    // The read, then maybe a write: the files are synced after both.
    file->read_at(at, kRecordAlignment, [self = shared_from_this(), file, at,
                                         read_done = io_started()](
                                            absl::StatusOr<std::string> bytes) mutable {
      if (bytes.ok() && std::all_of(bytes->begin(), bytes->end(), [](char c) { return c == 0; })) {
        self->recovery_.lost_bytes_marked += kRecordAlignment;
        file->write_at(at, std::string(kRecordAlignment, '\xff'), self->io_started());
      }
      read_done(absl::OkStatus());
    });
  }

  void on_recovered(absl::StatusOr<SegmentLog::Recovered> recovered) {
    if (!recovered.ok()) {
      note_error(recovered.status());
      return finish_if_failed_early();
    }
    recovery_.torn_tail_bytes = recovered->torn_tail_bytes;
    // As StreamStore's recovery judges its live log (classify_damage): a damaged header of an
    // older, off-chain segment (a torn creation) loses nothing.
    const bool newest_dead = recovered->newest_damaged_header > recovered->valid_end.seq;
    recovery_.lossy =
        recovered->broken_chain || recovered->unreadable_bytes > 0 || newest_dead;
    recovery_.lossy_synced =
        recovered->unreadable_bytes > 0 ||
        (newest_dead &&
         recovered->vouches(SegmentLog::Position{recovered->newest_damaged_header, 0})) ||
        (recovered->broken_chain && recovered->vouches(SegmentLog::Position{UINT64_MAX, 0}));
    recovery_.holes = recovery_.holes || recovered->holes;
    log_ = std::move(recovered->log);
    recovered_ = true;
    maybe_sync_files();
  }

  // Called when the log failed to open: writes out still complete later, so wait for them.
  void finish_if_failed_early() {
    recovered_ = true;
    maybe_sync_files();
  }

  void maybe_sync_files() {
    if (!recovered_ || writes_out_ > 0 || syncing_) return;
    syncing_ = true;
    auto self = shared_from_this();
    auto join = Join::make([self](absl::Status status) {
      self->note_error(status);
      self->touched_.clear();
      self->finish();
    });
    if (error_.ok()) {
      for (auto& [name, file] : touched_) {
        ++recovery_.redone_files;
        ++join->pending;
        file->sync([join](absl::Status s) { join->finish(s); });
      }
    }
    join->finish(absl::OkStatus());
  }

  void finish() {
    if (!error_.ok() || log_ == nullptr) {
      return done_(absl::Status(error_.code(), absl::StrCat("journal: redo: ", error_.message())));
    }
    auto journal = std::unique_ptr<Journal>(
        new Journal(files_, options_, std::move(log_), recovery_));
    journal->max_seq_ = std::move(max_seq_);
    done_(std::move(journal));
  }

  void note_error(const absl::Status& status) {
    if (!status.ok() && error_.ok()) error_ = status;
  }

  FileSystem& files_;
  JournalOptions options_;
  OpenDone done_;
  JournalRecovery recovery_;
  std::unique_ptr<SegmentLog> log_;
  absl::flat_hash_map<std::string, uint64_t> max_seq_;
  absl::btree_map<std::string, std::unique_ptr<File>> touched_;
  absl::flat_hash_map<std::string, uint64_t> ends_;  // per segment file: the end written so far
  uint64_t writes_out_ = 0;
  bool recovered_ = false;
  bool syncing_ = false;
  absl::Status error_;
};

void Journal::open(FileSystem& files, const JournalOptions& options, OpenDone done) {
  if (absl::Status valid = options.validate(); !valid.ok()) return done(valid);
  std::make_shared<Redo>(files, options, std::move(done))->start();
}

Journal::Journal(FileSystem& files, const JournalOptions& options, std::unique_ptr<SegmentLog> log,
                 JournalRecovery recovery)
    : files_(files), options_(options), log_(std::move(log)), recovery_(recovery) {}

Journal::~Journal() = default;  // alive_ goes: late checkpoint callbacks do nothing

bool Journal::exists_in(const FileSystem& files) {
  const std::string dot = std::string(kPrefix) + ".";
  return !files.list(dot).empty();
}

void Journal::remove(IoDone done) {
  pending_.clear();
  checkpoint_queue_.clear();
  log_->remove_all(std::move(done));
}

uint64_t Journal::max_record_bytes() const {
  return std::min<uint64_t>(kMaxRecordPayloadBytes - 4096, options_.segment_bytes / 4);
}

uint64_t Journal::max_seq(const std::string& prefix) const {
  auto it = max_seq_.find(prefix);
  return it == max_seq_.end() ? 0 : it->second;
}

void Journal::write(const std::string& prefix, uint64_t seq, uint64_t offset,
                    std::string_view bytes) {
  uint64_t& max_seq = max_seq_[prefix];
  max_seq = std::max(max_seq, seq);
  const uint64_t chunk = max_record_bytes();
  for (uint64_t at = 0; at < bytes.size(); at += chunk) {
    const std::string_view part = bytes.substr(at, chunk);
    const SegmentLog::Position position = log_->append(
        RecordType::kJournalWrite,
        encode_payload(JournalWrite{prefix, seq, offset + at, std::string(part)}));
    auto [it, fresh] = pending_.try_emplace(prefix);
    if (fresh) it->second.from = position;
    it->second.seqs.insert(seq);
  }
}

void Journal::sync(IoDone done) {
  log_->sync([this, alive = std::weak_ptr<bool>(alive_), done = std::move(done)](
                 absl::Status status) mutable {
    done(status);
    if (!alive.expired() && status.ok()) maybe_checkpoint();
  });
}

void Journal::maybe_checkpoint() {
  if (!checkpoint_queue_.empty() || !checkpointing_.empty() || trimming_) return;
  const std::vector<uint64_t> segments = log_->segments();
  if (segments.size() < options_.checkpoint_segments) return;
  const uint64_t oldest = segments.front();
  for (const auto& [prefix, pending] : pending_) {
    if (pending.from.seq <= oldest) checkpoint_queue_.push_back(prefix);
  }
  if (checkpoint_queue_.empty()) return maybe_trim();
  ++checkpoints_;
  if (options_.coverage != nullptr) options_.coverage->hit(CoveragePath::kJournalCheckpoint);
  for (uint64_t i = 0; i < options_.checkpoint_parallelism; ++i) checkpoint_next();
}

// Syncs one queued log's files, by name (the log may have closed since: its files are what
// the journal protects).
void Journal::checkpoint_next() {
  if (checkpoint_queue_.empty()) return;
  const std::string prefix = std::move(checkpoint_queue_.back());
  checkpoint_queue_.pop_back();
  auto it = pending_.find(prefix);
  if (it == pending_.end()) return checkpoint_next();
  const Pending& syncing = checkpointing_[prefix] = std::move(it->second);
  pending_.erase(it);
  auto join = Join::make([this, alive = std::weak_ptr<bool>(alive_), prefix](absl::Status status) {
    if (alive.expired()) return;
    finish_checkpoint(prefix, status);
  });
  for (uint64_t seq : syncing.seqs) {
    absl::StatusOr<std::unique_ptr<File>> file =
        files_.open(segment_file_name(prefix, seq), OpenMode::kOpenExisting);
    if (!file.ok()) {
      // Trimmed or cut off since: nothing of it to keep.
      if (file.status().code() == absl::StatusCode::kNotFound) continue;
      join->finish(file.status());
      return;
    }
    ++join->pending;
    // The handle lives until its sync completes.
    File* raw = file->get();
    raw->sync([join, owned = std::shared_ptr<File>(std::move(*file))](absl::Status s) {
      join->finish(s);
    });
  }
  join->finish(absl::OkStatus());
}

void Journal::finish_checkpoint(const std::string& prefix, const absl::Status& status) {
  auto done = checkpointing_.extract(prefix);
  WALLE_CHECK(!done.empty());
  if (!status.ok()) {
    // Still owed: merged back, retried by a later checkpoint.
    auto [it, fresh] = pending_.try_emplace(prefix);
    if (fresh || done.mapped().from < it->second.from) it->second.from = done.mapped().from;
    it->second.seqs.insert(done.mapped().seqs.begin(), done.mapped().seqs.end());
  }
  checkpoint_next();
  if (checkpointing_.empty() && checkpoint_queue_.empty()) maybe_trim();
}

// Deletes the journal segments that no log's unsynced writes need.
void Journal::maybe_trim() {
  if (trimming_) return;
  const std::vector<uint64_t> segments = log_->segments();
  if (segments.empty()) return;
  uint64_t keep = segments.back();  // the head stays
  for (const auto& [prefix, pending] : pending_) keep = std::min(keep, pending.from.seq);
  for (const auto& [prefix, pending] : checkpointing_) keep = std::min(keep, pending.from.seq);
  if (keep <= segments.front()) return;
  trimming_ = true;
  log_->delete_before(keep, [this, alive = std::weak_ptr<bool>(alive_)](absl::Status) {
    if (alive.expired()) return;
    trimming_ = false;  // a failure leaves the segments: the next checkpoint tries again
  });
}

void Journal::check_invariants() const {
  log_->check_invariants();
  for (const auto& [prefix, pending] : pending_) {
    WALLE_CHECK(!pending.seqs.empty());
    WALLE_CHECK(*pending.seqs.rbegin() <= max_seq(prefix));
  }
  WALLE_CHECK(checkpointing_.size() <= options_.checkpoint_parallelism);
}

}  // namespace walle::storage
