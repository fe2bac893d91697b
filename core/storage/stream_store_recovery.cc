// StreamStore::open: recovery of a stream from its metadata file and its two logs.
//
// The live log is replayed record by record into the in-memory state (committed id, the
// uncommitted window, the index). Damage is treated by kind (docs/storage.md):
// - kTornTail: bytes after the last valid record of the newest segment are cut off.
// - kCommittedHole: a hole (bytes failing their checks, followed by valid records) whose lost
//   ids are all at or below the final committed id: those ids are committed history lost to
//   corruption; they become missing() and are refilled from peers.
// - kUncommittedHole: a hole that lost an id above the committed id: the entries after it do
//   not chain to anything we hold, so the log is cut at the hole (the state is rolled back to
//   what it was there). They were never committed, so nothing acknowledged is lost.
// Then every damaged place is judged (classify_damage): could it have held state above the
// final commit point, and was it proven durable by a later sync mark (rot) or not (torn or
// rot: uncertain)? The verdict is RecoveryReport::tail_damage.

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "core/storage/records.h"
#include "core/storage/store_files.h"
#include "core/storage/stream_store.h"
#include "core/util/check.h"
#include "core/util/join.h"

namespace walle::storage {
namespace {

// Marks the refusal for lost_metadata(): callers tell it from a full disk or a transient error.
constexpr absl::string_view kMetadataLostPayload = "walle.dev/storage/metadata-lost";

absl::Status metadata_lost_error(const std::string& message) {
  absl::Status status = absl::DataLossError(message);
  status.SetPayload(kMetadataLostPayload, absl::Cord("both copies"));
  return status;
}

}  // namespace

bool lost_metadata(const absl::Status& status) {
  return absl::IsDataLoss(status) && status.GetPayload(kMetadataLostPayload).has_value();
}

class StreamStore::Recovery : public std::enable_shared_from_this<StreamStore::Recovery> {
 public:
  Recovery(std::unique_ptr<StreamStore> store, OpenDone done)
      : store_(std::move(store)), done_(std::move(done)) {}

  void start() {
    StreamStore& s = *store_;
    if (!s.files_.exists(s.meta_name()) && !s.files_.exists(meta_copy_file(s.name_))) {
      create();
      return;
    }
    read_meta_copy(0);
  }

 private:
  // The state of the replay when a hole begins, to roll back to if the hole must be cut.
  struct Hole {
    SegmentLog::Position from;
    uint64_t committed;
    uint64_t window_first;
    std::deque<WindowEntry> window;
    LogIndex index;
    uint64_t tail;                       // T when the hole began
    std::optional<uint64_t> next_entry;  // id of the first entry after the hole
  };

  void fail(absl::Status status) { done_(std::move(status)); }

  std::optional<StreamMeta> meta_copies_[2];
  std::string meta_problems_[2];
  bool meta_missing_[2] = {false, false};

  static constexpr size_t kMaxHoles = 64;  // past this much damage, the rest is not trusted

  // Reads copy `index` (0: `.meta`, 1: `.meta2`), then the next; chooses once both are read.
  void read_meta_copy(int index) {
    StreamStore& s = *store_;
    if (index == 2) return choose_meta();
    const std::string name = index == 0 ? s.meta_name() : meta_copy_file(s.name_);
    if (!s.files_.exists(name)) {
      meta_missing_[index] = true;
      meta_problems_[index] = "missing";
      return read_meta_copy(index + 1);
    }
    absl::StatusOr<std::unique_ptr<File>> file = s.files_.open(name, OpenMode::kOpenExisting);
    if (!file.ok()) {
      meta_problems_[index] = std::string(file.status().message());
      return read_meta_copy(index + 1);
    }
    std::shared_ptr<File> f(std::move(*file));
    f->read_at(0, f->size(), [self = shared_from_this(), f, index](absl::StatusOr<std::string> bytes) {
      self->parse_meta_copy(index, std::move(bytes));
      self->read_meta_copy(index + 1);
    });
  }

  void parse_meta_copy(int index, absl::StatusOr<std::string> bytes) {
    StreamStore& s = *store_;
    if (!bytes.ok()) {
      meta_problems_[index] = absl::StrCat("unreadable: ", bytes.status().message());
      return;
    }
    RecordReader reader(*bytes, 0, meta_seed(s.name_));
    RecordView record;
    if (reader.next(record) == RecordReader::Result::kRecord && record.type == RecordType::kMeta) {
      meta_copies_[index] = decode_payload<StreamMeta>(record.payload);
    }
    // Written with the atomic-replace idiom, so a bad copy is rot, not a torn write.
    if (!meta_copies_[index]) meta_problems_[index] = "fails its checksum";
  }

  // The first copy is written first, so when both are good it is the newer (the two differ
  // only after a crash between them, before that update was acknowledged). A bad or missing
  // copy is rewritten from the good one before the stream opens.
  void choose_meta() {
    StreamStore& s = *store_;
    const int good = meta_copies_[0] ? 0 : meta_copies_[1] ? 1 : -1;
    if (good < 0 && meta_missing_[1]) {
      // The second copy is written once before the stream first opens, and never removed but
      // by a drop: without it the creation (or a drop) never finished, and nothing was
      // acknowledged from this stream. Start it anew.
      return create();
    }
    if (good < 0) {
      return fail(metadata_lost_error(absl::StrCat(
          "stream ", s.name_, ": both metadata copies are bad (", s.meta_name(), ": ",
          meta_problems_[0], "; ", meta_copy_file(s.name_), ": ", meta_problems_[1],
          "); restore them from a peer (the logs are untouched)")));
    }
    s.meta_ = *meta_copies_[good];
    if (meta_copies_[0] && meta_copies_[1]) return open_live();
    // If the rewrite fails (a full disk) the stream still opens from the good copy; the next
    // metadata update writes both.
    s.write_meta(s.meta_, [self = shared_from_this()](absl::Status) { self->open_live(); });
  }

  // A stream without metadata is new (or was being dropped): start clean, with entry 0.
  void create() {
    StreamStore& s = *store_;
    open_logs_then([self = shared_from_this()] {
      StreamStore& s = *self->store_;
      // Both logs cleared, then entry 0; the first error fails the open (once, after both).
      auto join = Join::make([self](absl::Status status) {
        if (!status.ok()) return self->fail(status);
        self->initialize_empty();
      });
      join->pending += 2;
      s.live_->remove_all([join](absl::Status status) { join->finish(status); });
      s.fill_->remove_all([join](absl::Status status) { join->finish(status); });
      join->finish(absl::OkStatus());  // all submitted
    });
    (void)s;
  }

  void initialize_empty() {
    StreamStore& s = *store_;
    s.set_live_state_providers();
    const Entry zero = entry_zero();
    const SegmentLog::Position position =
        s.live_->append(RecordType::kEntry, encode_payload(EntryRecord{zero, true}));
    s.window_.push_back(WindowEntry{zero.checksum, zero.writer, true, false, position});
    s.live_index_.add(0, position, s.index_interval());
    s.write_meta(s.meta_, [self = shared_from_this()](absl::Status status) {
      if (!status.ok()) return self->fail(status);
      self->store_->sync([self](absl::Status status) {
        if (!status.ok()) return self->fail(status);
        self->done_(std::move(self->store_));
      });
    });
  }

  // A visitor that ignores everything: a new stream's leftover segments are not replayed.
  static SegmentLog::Visitor ignore_records() {
    return SegmentLog::Visitor{[](const RecordView&, SegmentLog::Position) {},
                               [](SegmentLog::Position, SegmentLog::Position) {},
                               [](std::string_view, SegmentLog::Position) {},
                               [](std::string_view, SegmentLog::Position) {}};
  }

  // Opens both logs empty-handed (used for a new stream: no replay needed).
  void open_logs_then(absl::AnyInvocable<void()> next) {
    StreamStore& s = *store_;
    auto next_ptr = std::make_shared<absl::AnyInvocable<void()>>(std::move(next));
    SegmentLog::open(
        s.files_, live_prefix(s.name_), live_seed(s.name_), s.options_.segment_bytes,
        ignore_records(),
        [self = shared_from_this(), next_ptr](absl::StatusOr<SegmentLog::Recovered> live) {
          if (!live.ok()) return self->fail(live.status());
          StreamStore& s = *self->store_;
          s.live_ = std::move(live->log);
          s.live_->use_journal(s.options_.journal);
          SegmentLog::open(s.files_, fill_prefix(s.name_), fill_seed(s.name_),
                           s.options_.segment_bytes,
                           ignore_records(),
                           [self, next_ptr](absl::StatusOr<SegmentLog::Recovered> fill) {
                             if (!fill.ok()) return self->fail(fill.status());
                             self->store_->fill_ = std::move(fill->log);
                             self->store_->fill_->use_journal(self->store_->options_.journal);
                             (*next_ptr)();
                           });
        });
  }

  // --- the live log ----------------------------------------------------------------------

  void open_live() {
    StreamStore& s = *store_;
    SegmentLog::Visitor visitor{
        [self = shared_from_this()](const RecordView& r, SegmentLog::Position p) {
          self->on_live_record(r, p);
        },
        [self = shared_from_this()](SegmentLog::Position from, SegmentLog::Position) {
          self->on_live_hole(from);
        },
        [self = shared_from_this()](std::string_view state, SegmentLog::Position p) {
          self->on_live_segment(state, p);
        },
        [self = shared_from_this()](std::string_view state, SegmentLog::Position) {
          self->on_live_sync_mark(state);
        }};
    SegmentLog::open(s.files_, live_prefix(s.name_), live_seed(s.name_), s.options_.segment_bytes,
                     std::move(visitor),
                     [self = shared_from_this()](absl::StatusOr<SegmentLog::Recovered> live) {
                       if (!live.ok()) return self->fail(live.status());
                       self->finish_live(std::move(*live));
                     });
  }

  uint64_t tail() const { return started_ ? window_first_ + window_.size() - 1 : 0; }

  // A segment begins: its header records the committed id (and the window's re-stamps) as of
  // its creation. The first one gives the replay its base.
  void on_live_segment(std::string_view payload, SegmentLog::Position position) {
    std::optional<LiveSegmentState> state = decode_payload<LiveSegmentState>(payload);
    if (!state) return note_invalid();
    if (!started_) {
      started_ = true;
      window_first_ = committed_ = state->committed;
      window_.assign(1, WindowEntry{0, {}, false, false, position});  // known once read
    } else {
      commit_to(state->committed);
    }
    for (const StampRecord& stamp : state->stamps) apply_stamp(stamp);
  }

  // A sync mark repeats the committed id as of the flush it vouches for: if the record that
  // established it rots (a gap commit, a commit record), the id is still known, and the
  // entries below it become missing rather than unknown.
  void on_live_sync_mark(std::string_view payload) {
    if (!started_ || holes_.size() > kMaxHoles) return;
    std::optional<CommitRecord> state = decode_payload<CommitRecord>(payload);
    if (!state) return note_invalid();
    commit_to(state->id);
  }

  void apply_stamp(const StampRecord& stamp) {
    if (stamp.id < window_first_ || stamp.id > tail()) return;
    WindowEntry& w = window_[stamp.id - window_first_];
    w.writer = std::max(w.writer, stamp.writer);
    w.stamped = true;
  }

  void on_live_record(const RecordView& record, SegmentLog::Position position) {
    if (holes_.size() > kMaxHoles) return;
    if (!started_) return note_invalid();  // every chain segment starts with its header
    switch (record.type) {
      case RecordType::kEntry: {
        std::optional<EntryRecord> r = decode_payload<EntryRecord>(record.payload);
        if (!r) return note_invalid();
        const uint64_t id = r->entry.id;
        const bool after_hole = !holes_.empty() && !holes_.back().next_entry;
        ++entries_seen_;
        if (after_hole) holes_.back().next_entry = id;
        WindowEntry w{r->entry.checksum, r->entry.writer, true, false, position};
        if (r->committed) {
          // A gap commit: committed as it lands; the ids in between are gaps.
          if (id < committed_) return note_invalid();
          window_.assign(1, w);
          window_first_ = committed_ = id;
        } else if (id >= window_first_ && id <= tail() && !window_[id - window_first_].known) {
          // The entry a header or commit record named: now known.
          window_[id - window_first_] = w;
        } else if (id == tail() + 1) {
          window_.push_back(w);
        } else if (id > tail() + 1) {
          if (!after_hole) {
            // Ids below the trim point were deleted with their segments: not a loss.
            if (id - 1 < store_->meta_.first_entry_id) {
              commit_to(id - 1);
            } else if (entries_seen_ > 0) {
              // A valid record where another id belongs (a misdirected write copied an old
              // record here): it is damage, not data. Skip it as a hole.
              on_live_hole(position);
              return;
            } else {
              // Records at the start of the replay were lost: a hole like any other.
              on_live_hole(position);
              holes_.back().next_entry = id;
            }
          }
          // The hole held the ids in between. Whether they were committed is decided at the
          // end; meanwhile they are placeholders. A writer never has more than
          // max_uncommitted_entries in flight, so ids further back were committed.
          const uint64_t bound = store_->options_.max_uncommitted_entries;
          if (id - 1 - tail() > bound) commit_to(id - 1 - bound);
          while (tail() + 1 < id) window_.push_back(WindowEntry{0, {}, false, false, position});
          window_.push_back(w);
        } else {
          return note_invalid();
        }
        // After damaged bytes, scans must start here: they cannot cross the damage.
        index_.add(id, position, store_->options_.index_interval_bytes, after_hole);
        return;
      }
      case RecordType::kCommit: {
        std::optional<CommitRecord> r = decode_payload<CommitRecord>(record.payload);
        if (!r) return note_invalid();
        commit_to(r->id);
        return;
      }
      case RecordType::kStamp: {
        std::optional<StampRecord> r = decode_payload<StampRecord>(record.payload);
        if (!r) return note_invalid();
        apply_stamp(*r);
        return;
      }
      default:
        return note_invalid();
    }
  }

  void commit_to(uint64_t id) {
    if (id <= committed_) return;
    if (id > tail()) {
      // The committed entry was lost (in a hole): remember only its id.
      window_.clear();
      window_.push_back(WindowEntry{0, {}, false, false, {}});
      window_first_ = committed_ = id;
      return;
    }
    while (window_first_ < id) {
      window_.pop_front();
      ++window_first_;
    }
    committed_ = id;
  }

  void note_invalid() { ++invalid_records_; }

  void on_live_hole(SegmentLog::Position from) {
    if (holes_.size() > kMaxHoles) return;
    holes_.push_back(Hole{from, committed_, window_first_, window_, index_, tail(), std::nullopt});
  }

  void finish_live(SegmentLog::Recovered live) {
    StreamStore& s = *store_;
    s.live_ = std::move(live.log);
    s.live_->use_journal(s.options_.journal);
    s.report_.records += live.records;
    s.report_.segments += live.segments;
    s.report_.torn_tail_bytes = live.torn_tail_bytes;
    s.report_.dead_segments += live.dead_segments;
    s.report_.unreadable_bytes += live.unreadable_bytes;
    s.report_.broken_chain = live.broken_chain;
    s.report_.damaged_headers += live.damaged_headers;
    s.set_live_state_providers();

    // Find the earliest hole that lost an uncommitted id, given the committed id that holds
    // once everything after that hole is cut; repeat until stable.
    uint64_t final_committed = committed_;
    std::optional<size_t> cut;
    for (;;) {
      std::optional<size_t> found;
      const size_t limit = cut.value_or(holes_.size());
      for (size_t i = 0; i < limit; ++i) {
        const Hole& h = holes_[i];
        if (h.next_entry && *h.next_entry > h.tail + 1 && *h.next_entry - 1 > final_committed) {
          found = i;
          break;
        }
      }
      if (!found) break;
      cut = found;
      final_committed = holes_[*found].committed;
    }
    if (cut) {
      const Hole& h = holes_[*cut];
      s.report_.dropped_uncommitted_entries = tail() > h.tail ? tail() - h.tail : 0;
      committed_ = h.committed;
      window_first_ = h.window_first;
      window_ = h.window;
      index_ = h.index;
    }
    classify_damage(live);
    s.committed_ = s.emitted_commit_ = committed_;
    s.window_first_ = window_first_;
    s.window_ = std::move(window_);
    s.live_index_ = std::move(index_);
    // After the state is in place: the cut's new segment header records it.
    if (cut) s.live_->cut(holes_[*cut].from);
    if (s.window_.empty()) {
      // Not even entry 0 survived (possible only if the first sync never completed).
      const Entry zero = entry_zero();
      const SegmentLog::Position position =
          s.live_->append(RecordType::kEntry, encode_payload(EntryRecord{zero, true}));
      s.window_.push_back(WindowEntry{zero.checksum, zero.writer, true, false, position});
      s.live_index_.add(0, position, s.index_interval());
      s.window_first_ = s.committed_ = 0;
    }
    open_fill();
  }

  // Judges each damaged place of the live log against the final commit point. A hole whose
  // next entry is at or below it held only committed history (its lost ids become missing,
  // refilled from peers); any other hole, a torn or vanished tail, or a damaged header may
  // have taken uncommitted entries, re-stamps or the commit point itself, which this member
  // may have acknowledged. Such damage before the newest sync mark hit durable bytes: rot.
  void classify_damage(const SegmentLog::Recovered& live) {
    RecoveryReport& report = store_->report_;
    const auto judge = [&report, &live](SegmentLog::Position at) {
      ++report.lossy_damage;
      if (live.vouches(at)) ++report.synced_damage;
    };
    for (const Hole& h : holes_) {
      if (!h.next_entry || *h.next_entry > committed_) judge(h.from);
    }
    if (live.torn_tail_bytes > 0 || live.vouches(live.valid_end)) judge(live.valid_end);
    // A damaged header newer than the chain's head: the newest segment died, with whatever it
    // held (never vouched for: marks vouch only for earlier bytes). Older dead segments were
    // off the chain already (a cut, or an earlier crash's torn creation): nothing is lost.
    if (live.newest_damaged_header > live.valid_end.seq) {
      judge(SegmentLog::Position{live.newest_damaged_header, 0});
    }
    if (live.broken_chain) judge(SegmentLog::Position{UINT64_MAX, 0});
    // What the journal lost and cannot say whose: this store's acknowledged tail may have
    // been there only (found by the simulator: a latent error in the journal's first header
    // hid every record, and a member came back without entries it had acknowledged).
    const Journal* journal = store_->options_.journal;
    if (journal != nullptr && journal->lost_records()) {
      report.journal_damage = true;
      ++report.lossy_damage;
      if (journal->lost_synced_records()) ++report.synced_damage;
    }
  }

  // --- the backfill log --------------------------------------------------------------------

  void open_fill() {
    StreamStore& s = *store_;
    SegmentLog::Visitor visitor{
        [self = shared_from_this()](const RecordView& r, SegmentLog::Position p) {
          if (r.type != RecordType::kEntry) return;
          std::optional<EntryRecord> e = decode_payload<EntryRecord>(r.payload);
          if (!e) return self->note_invalid();
          self->learn_committed_head(e->entry, p);
          self->store_->fill_index_.add(e->entry.id, p, self->store_->options_.index_interval_bytes,
                                        self->fill_after_hole_);
          self->fill_after_hole_ = false;
        },
        // A hole in the backfill log loses entries that are simply missing again; scans
        // must not cross it.
        [self = shared_from_this()](SegmentLog::Position, SegmentLog::Position) {
          self->fill_after_hole_ = true;
        },
        [](std::string_view, SegmentLog::Position) {},
        [](std::string_view, SegmentLog::Position) {}};
    SegmentLog::open(s.files_, fill_prefix(s.name_), fill_seed(s.name_), s.options_.segment_bytes,
                     std::move(visitor),
                     [self = shared_from_this()](absl::StatusOr<SegmentLog::Recovered> fill) {
                       if (!fill.ok()) return self->fail(fill.status());
                       self->finish(std::move(*fill));
                     });
  }

  // The committed entry's record was lost from the live log but refilled into the backfill
  // log: its checksum is known again, so puts can chain from it (else every put at the
  // commit point is refused as missing, and every claim counting this member stalls).
  void learn_committed_head(const Entry& entry, SegmentLog::Position position) {
    StreamStore& s = *store_;
    if (s.window_.empty() || entry.id != s.window_first_ || s.window_.front().known) return;
    s.window_.front() = WindowEntry{entry.checksum, entry.writer, true, false, position};
  }

  void finish(SegmentLog::Recovered fill) {
    StreamStore& s = *store_;
    s.fill_ = std::move(fill.log);
    s.fill_->use_journal(s.options_.journal);
    s.report_.records += fill.records;
    s.report_.segments += fill.segments;
    s.report_.dead_segments += fill.dead_segments;
    s.report_.unreadable_bytes += fill.unreadable_bytes;
    s.report_.broken_chain = s.report_.broken_chain || fill.broken_chain;
    s.report_.damaged_headers += fill.damaged_headers;
    // Missing: committed ids at or above the trim point held by neither log.
    const uint64_t first = s.meta_.first_entry_id;
    s.live_index_.erase_below(first);
    s.fill_index_.erase_below(first);
    // put_backfill takes only ids at or below the committed id, but the two logs sync
    // independently: a crash can keep a backfill and lose the gap commit it came after (found
    // by the storage property test). Such an entry is above the recovered commit point, where
    // only the live window belongs; kept, a later gap commit over its id would list it
    // missing() while reads still served it. Forget it (what survives must be a prefix of the
    // mutations), and start the next backfill in a new segment, as ids grow within one.
    if (s.fill_index_.ids().next_range(s.committed_ + 1)) {
      s.fill_index_.erase_above(s.committed_);
      s.fill_->roll();
    }
    if (s.committed_ >= first) s.missing_.add(first, s.committed_ + 1);
    for (const LogIndex* index : {&s.live_index_, &s.fill_index_}) {
      for (const auto& [b, e] : index->ids().ranges()) s.missing_.remove(b, e);
    }
    // What holes took from committed history is what recovery reports as corruption.
    for (const Hole& h : holes_) {
      const uint64_t lost_end = h.next_entry.value_or(s.committed_ + 1);
      for (uint64_t id = h.tail + 1; id < lost_end && id <= s.committed_; ++id) {
        if (s.missing_.contains(id)) s.report_.corrupt_committed.add(id);
        if (s.report_.corrupt_committed.count() > 1000000) break;
      }
    }
    s.report_.invalid_records = invalid_records_;
    done_(std::move(store_));
  }

  std::unique_ptr<StreamStore> store_;
  OpenDone done_;
  // Replay state of the live log.
  bool started_ = false;
  uint64_t committed_ = 0;
  uint64_t window_first_ = 0;
  std::deque<WindowEntry> window_;
  LogIndex index_;
  std::vector<Hole> holes_;
  uint64_t invalid_records_ = 0;
  uint64_t entries_seen_ = 0;
  bool fill_after_hole_ = false;
};

void StreamStore::open(FileSystem& files, std::string name, const StoreOptions& options,
                       OpenDone done) {
  absl::Status valid = options.validate();
  if (valid.ok()) valid = validate_store_name(name);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  auto recovery = std::make_shared<Recovery>(
      std::unique_ptr<StreamStore>(new StreamStore(files, std::move(name), options)),
      std::move(done));
  recovery->start();
}

}  // namespace walle::storage
