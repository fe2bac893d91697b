// StreamStore: random histories of mutations, syncs, crashes and trims, checked against an
// in-memory model of the durability contract (stream_store.h).
//
// The model plays the cluster around one server: content at a committed id is the cluster's
// and never changes (`truth`), whatever this server loses in a crash; uncommitted entries are
// one writer's proposals and may be truncated and replaced. Crashes either find the disk
// quiet (every sync ran to completion) or interrupt a sync after a random number of
// simulation steps, so that a random part of its writes (any sector pattern, with kTorn) is
// on disk unsynced. After every recovery the store must show:
//  (a) durability: everything synced and not later truncated or trimmed is there (committed
//      id, committed entries, uncommitted entries, re-stamps); synced committed ids are
//      missing only if they were gaps when synced;
//  (b) no invention: the committed id is at most what the model committed, committed entries
//      hold the cluster's content, uncommitted entries are ones written at that id since the
//      last durable state (never ones removed by a synced truncation);
//  (c) the chain: consecutive entries served chain by checksum.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/storage/stream_store.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"  // after gtest/gtest.h, which it needs
#include "tests/storage_harness.h"

namespace walle::storage::testing {
namespace {

enum class OpKind : uint8_t {
  kAppend,
  kCommit,
  kTruncate,
  kAppendCommitted,
  kBackfill,
  kRestamp,
  kSync,
  kCrash,
  kTrim,
};

const char* kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kAppend:
      return "append";
    case OpKind::kCommit:
      return "commit";
    case OpKind::kTruncate:
      return "truncate_after";
    case OpKind::kAppendCommitted:
      return "append_committed";
    case OpKind::kBackfill:
      return "put_backfill";
    case OpKind::kRestamp:
      return "restamp";
    case OpKind::kSync:
      return "sync";
    case OpKind::kCrash:
      return "crash";
    case OpKind::kTrim:
      return "trim";
  }
  return "?";
}

// One step of a history. `a` and `b` are raw randomness, interpreted against the model's state
// when the step runs, so every step is valid whatever precedes it (and shrinking stays valid).
struct Op {
  Op() = default;
  Op(OpKind kind, uint32_t a, uint32_t b) : kind(kind), a(a), b(b) {}
  OpKind kind = OpKind::kSync;
  uint32_t a = 0;
  uint32_t b = 0;
};

void showValue(const Op& op, std::ostream& os) {
  os << kind_name(op.kind) << "(" << op.a << "," << op.b << ")";
}

rc::Gen<Op> op_gen() {
  return rc::gen::construct<Op>(rc::gen::weightedElement<OpKind>({{10, OpKind::kAppend},
                                                                  {5, OpKind::kCommit},
                                                                  {2, OpKind::kTruncate},
                                                                  {2, OpKind::kAppendCommitted},
                                                                  {2, OpKind::kBackfill},
                                                                  {2, OpKind::kRestamp},
                                                                  {4, OpKind::kSync},
                                                                  {3, OpKind::kCrash},
                                                                  {1, OpKind::kTrim}}),
                                rc::gen::arbitrary<uint32_t>(), rc::gen::arbitrary<uint32_t>());
}

// Failure with a message naming the step and what was seen.
#define PROP_REQUIRE(cond, ...)                                                      \
  do {                                                                               \
    if (!(cond)) RC_FAIL(absl::StrCat(step_label_, ": ", #cond, ": ", __VA_ARGS__)); \
  } while (false)

bool same_content(const Entry& a, const Entry& b) {
  return a.id == b.id && a.checksum == b.checksum && a.data == b.data;
}

std::string describe(const Entry& e) {
  return absl::StrCat("{id=", e.id, " writer=", e.writer.ts, ".", e.writer.id,
                      " checksum=", e.checksum, " bytes=", e.data.size(), "}");
}

std::string set_string(const std::set<uint64_t>& ids) {
  RangeSet r;
  for (uint64_t id : ids) r.add(id);
  return r.to_string();
}

std::set<uint64_t> to_set(const RangeSet& ranges) {
  std::set<uint64_t> out;
  for (const auto& [b, e] : ranges.ranges()) {
    for (uint64_t id = b; id < e; ++id) out.insert(id);
  }
  return out;
}

// The state the store holds, as the model sees it.
struct Snapshot {
  uint64_t first = 0;  // trim point
  uint64_t committed = 0;
  uint64_t tail = 0;
  std::map<uint64_t, Entry> entries;     // ids stored, in [first, tail]
  std::set<uint64_t> missing;            // committed ids in [first, committed] not stored
  std::map<uint64_t, WriterId> writers;  // the window's writers (re-stamps included)
};

// What reading everything from the trim point to the tail (uncommitted included) returned.
struct ReadBack {
  std::map<uint64_t, Entry> present;
  std::map<uint64_t, absl::Status> failed;
};

class PropertyRun {
 public:
  explicit PropertyRun(uint64_t seed, bool journaled = false)
      : h_(StoreHarness::default_config(seed)) {
    if (journaled) h_.use_journal(small_journal_options());
    const absl::Status opened = h_.open();
    PROP_REQUIRE(opened.ok(), opened.ToString());
    truth_[0] = entry_zero();
    cur_.entries[0] = entry_zero();
    cur_.writers[0] = entry_zero().writer;
    durable_ = cur_;
  }

  void run(const Op& op, size_t index) {
    step_label_ = absl::StrCat("step ", index, " ", kind_name(op.kind), "(", op.a, ",", op.b, ")");
    switch (op.kind) {
      case OpKind::kAppend:
        append(op);
        break;
      case OpKind::kCommit:
        commit(op);
        break;
      case OpKind::kTruncate:
        truncate(op);
        break;
      case OpKind::kAppendCommitted:
        append_committed(op);
        break;
      case OpKind::kBackfill:
        backfill(op);
        break;
      case OpKind::kRestamp:
        restamp(op);
        break;
      case OpKind::kSync:
        sync();
        break;
      case OpKind::kCrash:
        crash(op);
        break;
      case OpKind::kTrim:
        trim(op);
        break;
    }
    check_matches_model();
  }

  // Everything the store serves now is exactly the model's state.
  void check_reads_match_model() {
    step_label_ = "final read";
    const ReadBack got = read_everything();
    for (uint64_t id = cur_.first; id <= cur_.tail; ++id) {
      auto want = cur_.entries.find(id);
      if (want == cur_.entries.end()) {
        PROP_REQUIRE(got.failed.contains(id), "id ", id, " is missing but was served");
        PROP_REQUIRE(got.failed.at(id).code() == absl::StatusCode::kDataLoss,
                     got.failed.at(id).ToString());
        continue;
      }
      auto it = got.present.find(id);
      PROP_REQUIRE(it != got.present.end(), "id ", id,
                   " not served: ", got.failed.contains(id) ? got.failed.at(id).ToString() : "?");
      PROP_REQUIRE(same_content(it->second, want->second), "id ", id, ": served ",
                   describe(it->second), ", model ", describe(want->second));
      if (id >= cur_.committed) {
        PROP_REQUIRE(it->second.writer == cur_.writers.at(id), "id ", id, " writer ",
                     describe(it->second));
      }
    }
  }

 private:
  StreamStore& store() { return h_.store(); }

  WriterId next_writer() {
    ++writer_.ts;
    return writer_;
  }

  Entry new_entry(uint64_t id, uint64_t previous, size_t size) {
    Entry e = make_entry(id, previous, size, ++salt_ * 1000003, writer_);
    return e;
  }

  // Size of the k-th entry of an append step: mostly small, sometimes up to 1024 bytes.
  static size_t entry_size(uint32_t a, uint32_t k) {
    const uint32_t r = (a >> (k * 3)) ^ (a * 2654435761u >> 7);
    return (r & 3) == 0 ? r % 1025 : r % 100;
  }

  void note_written(const Entry& e) { since_durable_[e.id].push_back(e); }

  // --- operations ---------------------------------------------------------------------------

  void append(const Op& op) {
    if (op.b % 8 == 0) next_writer();
    const uint32_t count = 1 + op.b % 5;
    for (uint32_t k = 0; k < count; ++k) {
      const uint64_t id = cur_.tail + 1;
      auto last = cur_.entries.find(cur_.tail);
      if (last == cur_.entries.end()) return;  // tail missing here: the store refuses
      Entry e;
      if (id <= max_committed_) {
        // The cluster committed this id already (this server lost it in a crash): the
        // writer re-sends the committed content.
        e = truth_.at(id);
        e.writer = writer_;
      } else {
        e = new_entry(id, last->second.checksum, entry_size(op.a, k));
      }
      const absl::Status s = store().append(e);
      PROP_REQUIRE(s.ok(), "append ", describe(e), ": ", s.ToString());
      cur_.entries[id] = e;
      cur_.writers[id] = e.writer;
      cur_.tail = id;
      note_written(e);
    }
  }

  void commit(const Op& op) {
    if (cur_.tail == cur_.committed) return;
    const uint64_t id = cur_.committed + 1 + op.a % (cur_.tail - cur_.committed);
    const absl::Status s = store().commit(id);
    PROP_REQUIRE(s.ok(), "commit ", id, ": ", s.ToString());
    for (uint64_t x = cur_.committed + 1; x <= id; ++x) {
      const Entry& e = cur_.entries.at(x);
      if (x <= max_committed_) {
        PROP_REQUIRE(same_content(e, truth_.at(x)), "model bug: committing non-truth at ", x);
      } else {
        truth_[x] = e;
      }
    }
    max_committed_ = std::max(max_committed_, id);
    cur_.committed = id;
    cur_.writers.erase(cur_.writers.begin(), cur_.writers.lower_bound(id));
    if (op.b % 2 == 0) sync();  // often at once, as a writer acknowledging the commit would
  }

  void truncate(const Op& op) {
    truncate_to(cur_.committed + op.a % (cur_.tail - cur_.committed + 1));
  }

  void truncate_to(uint64_t id) {
    const absl::Status s = store().truncate_after(id);
    PROP_REQUIRE(s.ok(), "truncate_after ", id, ": ", s.ToString());
    if (id < cur_.tail) min_cut_ = std::min(min_cut_, id);
    cur_.entries.erase(cur_.entries.upper_bound(id), cur_.entries.end());
    cur_.writers.erase(cur_.writers.upper_bound(id), cur_.writers.end());
    cur_.tail = id;
  }

  void append_committed(const Op& op) {
    const uint64_t c = cur_.committed;
    const uint64_t id = c + 1 + op.a % 4;
    if (op.b % 4 == 0) next_writer();
    // The cluster's entries c+1..id: known ones, then new ones chained from them.
    for (uint64_t x = c + 1; x <= id; ++x) {
      if (x > max_committed_) truth_[x] = new_entry(x, truth_.at(x - 1).checksum, op.b % 300);
    }
    Entry e = truth_.at(id);
    e.writer = writer_;
    const absl::Status s = store().append_committed(e);
    PROP_REQUIRE(s.ok(), "append_committed ", describe(e), ": ", s.ToString());
    if (cur_.tail > c) min_cut_ = std::min(min_cut_, c);
    cur_.entries.erase(cur_.entries.upper_bound(c), cur_.entries.end());
    for (uint64_t x = c + 1; x < id; ++x) cur_.missing.insert(x);
    cur_.entries[id] = e;
    cur_.writers.clear();
    cur_.writers[id] = e.writer;
    cur_.committed = cur_.tail = id;
    max_committed_ = std::max(max_committed_, id);
    note_written(e);
  }

  // Fills a few ids of a random missing range, in ascending order from its start.
  void backfill(const Op& op) {
    std::vector<uint64_t> starts;  // first id of each missing range
    for (uint64_t id : cur_.missing) {
      if (id > 0 && !cur_.missing.contains(id - 1)) starts.push_back(id);
    }
    if (starts.empty()) return;
    uint64_t id = starts[op.a % starts.size()];
    for (uint32_t k = 0; k <= op.b % 3 && cur_.missing.contains(id); ++k, ++id) {
      const Entry& e = truth_.at(id);
      const absl::Status s = store().put_backfill(e, truth_.at(id - 1).checksum);
      PROP_REQUIRE(s.ok(), "put_backfill ", describe(e), ": ", s.ToString());
      cur_.missing.erase(id);
      cur_.entries[id] = e;
      note_written(e);
    }
  }

  void restamp(const Op& op) {
    const uint64_t id = cur_.committed + op.a % (cur_.tail - cur_.committed + 1);
    if (!cur_.entries.contains(id)) return;
    const WriterId w = next_writer();
    const absl::Status s = store().restamp(id, w);
    PROP_REQUIRE(s.ok(), "restamp ", id, ": ", s.ToString());
    cur_.writers[id] = w;
  }

  void became_durable(const Snapshot& state) {
    durable_ = state;
    since_durable_.clear();
    min_cut_ = UINT64_MAX;
  }

  void sync() {
    const absl::Status s = h_.sync();
    PROP_REQUIRE(s.ok(), s.ToString());
    became_durable(cur_);
  }

  // Trims to a committed id. trim() syncs first (the committed id it relies on must be
  // durable), then makes the trim point durable.
  void trim(const Op& op) {
    if (cur_.committed <= cur_.first) return;
    const uint64_t id = cur_.first + 1 + op.a % (cur_.committed - cur_.first);
    const uint64_t checksum = truth_.at(id).checksum;
    const absl::Status s =
        h_.run_io([&](IoDone done) { store().trim(id, checksum, std::move(done)); });
    PROP_REQUIRE(s.ok(), "trim ", id, ": ", s.ToString());
    became_durable(cur_);
    for (Snapshot* state : {&cur_, &durable_}) {
      state->first = std::max(state->first, id);
      state->entries.erase(state->entries.begin(), state->entries.lower_bound(id));
      state->missing.erase(state->missing.begin(), state->missing.lower_bound(id));
    }
  }

  void crash(const Op& op) {
    const sim::CrashMode mode = static_cast<sim::CrashMode>(op.a % 3);
    // Interrupt a sync: some of its writes may be on disk, unsynced.
    if (op.b % 3 != 0) {
      auto result = std::make_shared<std::optional<absl::Status>>();
      store().sync([result](absl::Status s) { *result = std::move(s); });
      // A flush is a few disk operations per touched segment, each write followed by its
      // fsync: mostly stop right after the n-th write, so that it is on disk unsynced.
      const uint32_t choice = (op.b / 3) % 4;
      const sim::SimStats& stats = h_.sim().stats();
      if (choice < 3) {
        const uint64_t until = stats.disk_writes + 1 + choice;
        while (!result->has_value() && stats.disk_writes < until && h_.sim().step()) {
        }
      } else {
        for (uint32_t i = 0, n = (op.b / 12) % 8; i < n && !result->has_value(); ++i) {
          if (!h_.sim().step()) break;
        }
      }
      if (result->has_value()) {
        PROP_REQUIRE(result->value().ok(), result->value().ToString());
        became_durable(cur_);
      }
    }
    const absl::Status reopened = h_.crash_and_reopen(mode);
    PROP_REQUIRE(reopened.ok(), reopened.ToString());
    const RecoveryReport& report = store().recovery_report();
    // Crashes alone (no rot here) never look like rot: the sync marks say what was durable.
    PROP_REQUIRE(report.tail_damage() != TailDamage::kRot, "a crash was called rot: " + report.describe());
    if (report.tail_damage() == TailDamage::kUncertain) tags_.insert("uncertain tail");
    if (report.torn_tail_bytes > 0) tags_.insert("torn tail");
    if (report.dropped_uncommitted_entries > 0) tags_.insert("uncommitted hole");
    if (!report.corrupt_committed.empty()) tags_.insert("committed hole");
    if (report.dead_segments > 0) tags_.insert("dead segments");
    if (report.segments > 2) tags_.insert(">2 segments");
    if (h_.sim().stats().torn_crashes > 0) tags_.insert("torn crash");
    if (h_.journal() && h_.journal()->recovery().redone_writes > 0) tags_.insert("journal redone");
    if (h_.journal() && h_.journal()->recovery().skipped_writes > 0) tags_.insert("journal skipped");
    if (h_.sim().stats().landed_unsynced_sectors > 0) tags_.insert("unsynced sectors survived");
    if (h_.sim().stats().lost_unsynced_sectors > 0) tags_.insert("unsynced sectors lost");
    check_recovered();
    adopt_recovered();
  }

  // --- checks ---------------------------------------------------------------------------------

  ReadBack read_everything() {
    ReadBack out;
    uint64_t from = store().meta().first_entry_id;
    const uint64_t end = store().tail_id() + 1;
    while (from < end) {
      absl::StatusOr<std::vector<Entry>> part = h_.read(from, end, 4096, true);
      if (!part.ok()) {
        out.failed[from] = part.status();
        ++from;
        continue;
      }
      PROP_REQUIRE(!part->empty(), "read [", from, ",", end, ") returned nothing");
      for (Entry& e : *part) {
        PROP_REQUIRE(e.id == from, "read returned id ", e.id, " where ", from, " was due");
        out.present[from] = std::move(e);
        ++from;
      }
    }
    return out;
  }

  void check_matches_model() {
    StreamStore& s = store();
    PROP_REQUIRE(s.committed_id() == cur_.committed, "store C=", s.committed_id(),
                 " model C=", cur_.committed);
    PROP_REQUIRE(s.tail_id() == cur_.tail, "store T=", s.tail_id(), " model T=", cur_.tail);
    PROP_REQUIRE(s.meta().first_entry_id == cur_.first, "store first=", s.meta().first_entry_id,
                 " model first=", cur_.first);
    PROP_REQUIRE(to_set(s.missing()) == cur_.missing, "store missing=", s.missing().to_string(),
                 " model missing=", set_string(cur_.missing));
  }

  bool allowed_uncommitted(const Entry& e) const {
    auto d = durable_.entries.find(e.id);
    if (d != durable_.entries.end() && same_content(d->second, e)) return true;
    auto since = since_durable_.find(e.id);
    if (since == since_durable_.end()) return false;
    return std::any_of(since->second.begin(), since->second.end(),
                       [&e](const Entry& w) { return same_content(w, e); });
  }

  void check_recovered() {
    StreamStore& s = store();
    const uint64_t c = s.committed_id();
    const uint64_t t = s.tail_id();
    const uint64_t first = s.meta().first_entry_id;
    const std::string where = absl::StrCat(
        " [recovered C=", c, " T=", t, " first=", first, " missing=", s.missing().to_string(),
        "; durable C=", durable_.committed, " T=", durable_.tail, " first=", durable_.first,
        " missing=", set_string(durable_.missing), "; before crash C=", cur_.committed,
        " T=", cur_.tail, " min_cut=", min_cut_, "]");
    // (a) the durable state is there.
    PROP_REQUIRE(first == durable_.first, "trim point changed", where);
    PROP_REQUIRE(c >= durable_.committed, "lost durable commits", where);
    const uint64_t kept_tail = std::min(durable_.tail, min_cut_);
    PROP_REQUIRE(t >= kept_tail, "lost durable uncommitted entries", where);
    // (b) nothing invented.
    PROP_REQUIRE(c <= cur_.committed, "committed more than was ever committed", where);
    PROP_REQUIRE(c <= max_committed_, "committed more than was ever committed", where);
    for (uint64_t id : to_set(s.missing())) {
      PROP_REQUIRE(id >= first && id <= c, "missing id ", id, " outside [first, C]", where);
      if (id <= durable_.committed) {
        PROP_REQUIRE(durable_.missing.contains(id), "durable committed id ", id, " became missing",
                     where);
      }
    }
    const ReadBack got = read_everything();
    for (const auto& [id, status] : got.failed) {
      PROP_REQUIRE(status.code() == absl::StatusCode::kDataLoss && s.missing().contains(id),
                   "reading id ", id, " failed: ", status.ToString(), where);
    }
    for (const auto& [id, e] : got.present) {
      PROP_REQUIRE(!s.missing().contains(id), "id ", id, " is missing() but served", where);
      if (id <= c) {
        PROP_REQUIRE(truth_.contains(id) && same_content(e, truth_.at(id)), "committed id ", id,
                     " served ", describe(e), ", committed content ",
                     truth_.contains(id) ? describe(truth_.at(id)) : "none", where);
      } else {
        PROP_REQUIRE(allowed_uncommitted(e), "uncommitted id ", id, " served ", describe(e),
                     " which is neither durable nor written since", where);
      }
      if (id <= durable_.committed || id <= std::min(kept_tail, t)) {
        auto d = durable_.entries.find(id);
        if (d != durable_.entries.end()) {
          PROP_REQUIRE(same_content(e, d->second), "durable id ", id, " served ", describe(e),
                       ", durable ", describe(d->second), where);
        }
      }
      // (c) the chain.
      auto previous = got.present.find(id - 1);
      if (id > 0 && previous != got.present.end()) {
        PROP_REQUIRE(e.checksum == chain_checksum(previous->second.checksum, e.data), "id ", id,
                     " does not chain from ", id - 1, where);
      }
      if (id >= c) {
        const std::optional<EntryHead> head = s.head(id);
        PROP_REQUIRE(head && head->checksum == e.checksum && head->writer == e.writer, "head(", id,
                     ") disagrees with the entry served", where);
      }
      if (id == first && first > 0) {
        PROP_REQUIRE(s.meta().first_entry_checksum == e.checksum, "trim checksum", where);
      }
    }
    // Durable committed ids: served with their content, or missing if they were gaps.
    for (uint64_t id = std::max(first, durable_.first); id <= durable_.committed; ++id) {
      if (durable_.missing.contains(id)) continue;
      PROP_REQUIRE(got.present.contains(id), "durable committed id ", id,
                   " not served: ", got.failed.contains(id) ? got.failed.at(id).ToString() : "?",
                   where);
    }
    // Durable re-stamps of entries still in the window.
    for (uint64_t id = std::max(c, durable_.committed); id <= std::min(kept_tail, t); ++id) {
      auto w = durable_.writers.find(id);
      const std::optional<EntryHead> head = s.head(id);
      if (w != durable_.writers.end() && head) {
        PROP_REQUIRE(head->writer >= w->second, "durable re-stamp of ", id, " lost", where);
      }
    }
  }

  // The recovered state is the new model state (and durable: a disk after a crash holds no
  // unsynced writes). Uncommitted entries that contradict the cluster's committed content
  // are truncated, as the protocol would.
  void adopt_recovered() {
    StreamStore& s = store();
    const ReadBack got = read_everything();
    Snapshot next;
    next.first = s.meta().first_entry_id;
    next.committed = s.committed_id();
    next.tail = s.tail_id();
    next.entries = got.present;
    next.missing = to_set(s.missing());
    for (uint64_t id = next.committed; id <= next.tail; ++id) {
      if (std::optional<EntryHead> head = s.head(id)) next.writers[id] = head->writer;
    }
    cur_ = next;
    became_durable(cur_);
    for (uint64_t id = cur_.committed + 1; id <= cur_.tail && id <= max_committed_; ++id) {
      if (!same_content(cur_.entries.at(id), truth_.at(id))) {
        truncate_to(id - 1);
        break;
      }
    }
  }

 public:
  std::set<std::string> tags_;
  uint64_t journal_checkpoints() { return h_.journal() ? h_.journal()->checkpoints() : 0; }

 private:
  StoreHarness h_;
  std::string step_label_ = "open";
  Snapshot cur_;      // every accepted mutation
  Snapshot durable_;  // as of the last sync that reported OK
  // Entries written since durable_ (each may survive a crash), and the lowest id that a
  // truncation or gap commit since then kept as the tail (ids above it may be gone).
  std::map<uint64_t, std::vector<Entry>> since_durable_;
  uint64_t min_cut_ = UINT64_MAX;
  std::map<uint64_t, Entry> truth_;  // the cluster's committed content, ids <= max_committed_
  uint64_t max_committed_ = 0;
  WriterId writer_{1, 1};
  uint64_t salt_ = 0;
};

// Minimal cases of bugs the property found, now fixed: regression tests.

void append_range(StoreHarness& h, uint64_t first, uint64_t last, size_t size) {
  for (uint64_t id = first; id <= last; ++id) {
    const uint64_t previous = h.store().head(id - 1)->checksum;
    ASSERT_TRUE(h.store().append(make_entry(id, previous, size)).ok()) << id;
  }
}

std::vector<Entry> read_back(StoreHarness& h, uint64_t from, uint64_t to) {
  auto entries = h.read_all(from, to, true);
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? *entries : std::vector<Entry>();
}

// Regression (SegmentLog::cut): erasing the later segments from the btree_map invalidated the
// iterator to the cut segment, which was then dereferenced (a btree assertion in Debug).
TEST(StreamStoreProperty, TruncationIntoAnEarlierSegmentKeepsTheSegmentMapValid) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 29, 1000);  // 5 segments of 8 KiB
  ASSERT_TRUE(h.store().truncate_after(22).ok());
  EXPECT_EQ(h.store().tail_id(), 22u);
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().tail_id(), 22u);
  EXPECT_EQ(read_back(h, 0, 23).size(), 23u);
}

// Regression: a truncation with nothing committed (C=0) was never written (the next sync had
// no record to write), so after a crash the truncated entries were back.
TEST(StreamStoreProperty, TruncationWithNothingCommittedIsDurable) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 5, 40);
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.store().truncate_after(2).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().tail_id(), 2u);
}

// Regression (SegmentLog::flush): one flush that started two new segments handed the single
// spare to both; they wrote into one file, and acknowledged entries were lost at a crash.
TEST(StreamStoreProperty, OneSpareServesOneNewSegment) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 20, 1000);
  ASSERT_TRUE(h.store().commit(20).ok());
  ASSERT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.run_io([&](IoDone done) {
                 h.store().trim(15, read_back(h, 15, 16).at(0).checksum, std::move(done));
               }).ok());
  // A spare: the trimmed segment recycled, or one prepared in the background once the head
  // segment was half full (then the trimmed one is deleted: one spare at a time).
  int spares = 0;
  for (const std::string& name : h.node().env.files.list()) {
    spares += name.rfind("s1.live.spare.", 0) == 0;
    EXPECT_EQ(name.find(".prep."), std::string::npos) << name << ": preparation left over";
  }
  ASSERT_EQ(spares, 1);
  append_range(h, 21, 40, 1000);  // two new segments and more, one flush
  EXPECT_TRUE(h.sync().ok());
  ASSERT_TRUE(h.sync().ok());
  const std::vector<Entry> before = read_back(h, 15, 41);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().tail_id(), 40u);
  EXPECT_EQ(read_back(h, 15, 41), before);
}

// Spares off the sync path (docs/storage.md, "Spares"): once the head segment is half full a
// spare is prepared in the background (allocated, synced, renamed); the next new segment takes
// it instead of allocating inside its flush. A crash mid-way leaves a `.prep.` file that recovery
// deletes, and nothing of the log is lost.
TEST(StreamStoreProperty, ASpareIsPreparedInTheBackgroundAndACrashMidWayLosesNothing) {
  StoreOptions options = small_options();
  options.segment_bytes = 4 << 20;
  StoreHarness h;
  ASSERT_TRUE(h.open(options).ok());
  auto names_with = [&](std::string_view part) {
    int n = 0;
    for (const std::string& name : h.node().env.files.list()) n += name.find(part) != std::string::npos;
    return n;
  };
  // Appends and commits [first, last] in batches the store's window holds.
  auto fill = [&](uint64_t first, uint64_t last) {
    for (uint64_t from = first; from <= last; from += 200) {
      const uint64_t to = std::min(last, from + 199);
      append_range(h, from, to, 1000);
      ASSERT_TRUE(h.store().commit(to).ok());
      ASSERT_TRUE(h.sync().ok());
    }
  };
  // Up to the batch whose flush passed half of the first segment and so started a spare.
  uint64_t last = 0;
  while (names_with(".prep.") == 0) {
    ASSERT_LT(last, 4000u) << "no spare was started past half of the first segment";
    fill(last + 1, last + 200);
    last += 200;
  }
  EXPECT_GT(last, 1000u) << "started before the head segment was half full";
  EXPECT_EQ(names_with(".spare."), 0);  // not finished yet
  const std::vector<Entry> before = read_back(h, 1, last + 1);

  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll, options).ok());
  EXPECT_EQ(h.store().tail_id(), last);
  EXPECT_EQ(read_back(h, 1, last + 1), before);
  append_range(h, last + 1, last + 1, 1000);
  ASSERT_TRUE(h.sync().ok());  // deletes the interrupted one, starts another
  h.run_until([&] { return names_with(".spare.") == 1; });
  ASSERT_EQ(names_with(".spare."), 1);
  EXPECT_EQ(names_with(".prep."), 0);
  const int segments = names_with("s1.live.0");

  fill(last + 2, 4400);  // needs a new segment: it takes the spare
  EXPECT_EQ(names_with("s1.live.0"), segments + 1);
  const std::vector<Entry> all = read_back(h, 1, 4401);
  ASSERT_EQ(all.size(), 4400u);
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll, options).ok());
  EXPECT_EQ(read_back(h, 1, 4401), all);
}

// Regression: trim() made the trim point durable before the committed id it relies on, so a
// crash could leave the trim point above the committed id (entry 3 unreadable, kOutOfRange).
TEST(StreamStoreProperty, TrimAboveTheDurableCommittedIdSurvivesACrash) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  append_range(h, 1, 5, 40);
  ASSERT_TRUE(h.store().commit(5).ok());
  const std::vector<Entry> entries = read_back(h, 0, 6);
  ASSERT_EQ(entries.size(), 6u);
  ASSERT_TRUE(
      h.run_io([&](IoDone done) { h.store().trim(3, entries[3].checksum, std::move(done)); }).ok());
  ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
  EXPECT_EQ(h.store().meta().first_entry_id, 3u);
  EXPECT_GE(h.store().committed_id(), 3u);
  auto third = h.read(3, 4);
  EXPECT_TRUE(third.ok() || third.status().code() == absl::StatusCode::kDataLoss) << third.status();
}

// Regression (the backfill log's index): filling id 3 after id 5 started a new backfill
// segment whose index point shadowed 5's; reading 5 failed with kDataLoss and marked it missing.
TEST(StreamStoreProperty, BackfillingALowerIdKeepsHigherBackfilledIdsReadable) {
  StoreHarness h;
  ASSERT_TRUE(h.open().ok());
  // The cluster's entries 1..6; this server gets 2, 4 and 6 by gap commits.
  std::vector<Entry> remote{entry_zero()};
  for (uint64_t id = 1; id <= 6; ++id) remote.push_back(make_entry(id, remote.back().checksum));
  for (uint64_t id : {2, 4, 6}) ASSERT_TRUE(h.store().append_committed(remote[id]).ok());
  EXPECT_EQ(h.store().missing().to_string(), "{[1,2) [3,4) [5,6)}");
  for (uint64_t id : {1, 5, 3}) {
    ASSERT_TRUE(h.store().put_backfill(remote[id], remote[id - 1].checksum).ok()) << id;
  }
  ASSERT_TRUE(h.sync().ok());
  auto five = h.read(5, 6);
  ASSERT_TRUE(five.ok()) << five.status();
  EXPECT_EQ(five->at(0), remote[5]);
  EXPECT_TRUE(h.store().missing().empty()) << h.store().missing().to_string();
}

// Regression: a truncation cut the live log before the durable commit record of C=1, and the
// re-emitted commit record could be lost by a crash that kept the cut (C came back as 0).
TEST(StreamStoreProperty, AnInterruptedSyncAfterATruncationKeepsTheDurableCommit) {
  for (int steps = 0; steps < 16; ++steps) {
    StoreHarness h;
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 2, 40);
    ASSERT_TRUE(h.store().commit(1).ok());
    ASSERT_TRUE(h.sync().ok());
    ASSERT_TRUE(h.store().truncate_after(1).ok());
    const Entry other = make_entry(2, h.store().head(1)->checksum, 40, 77, {2, 2});
    ASSERT_TRUE(h.store().append(other).ok());
    ASSERT_TRUE(h.store().truncate_after(1).ok());
    // Crash after `steps` disk operations of the next sync.
    h.store().sync([](absl::Status) {});
    for (int i = 0; i < steps && h.sim().step(); ++i) {
    }
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    EXPECT_GE(h.store().committed_id(), 1u) << "crash after " << steps << " steps";
  }
}

// Regression: a torn sync left a hole followed by a commit record and no entry; recovery kept
// the hole, and a read crossing it marked the later entry 3 missing although it was intact.
TEST(StreamStoreProperty, ATornHoleBeforeACommitRecordDoesNotLoseLaterEntries) {
  int reproduced = 0;
  for (uint64_t seed = 1; seed <= 64; ++seed) {
    StoreHarness h(StoreHarness::default_config(seed));
    ASSERT_TRUE(h.open().ok());
    append_range(h, 1, 2, 8);
    append_range(h, 3, 3, 1000);  // spans three sectors
    ASSERT_TRUE(h.store().commit(1).ok());
    h.store().sync([](absl::Status) {});
    ASSERT_TRUE(h.sim().step());  // the write, not its fsync
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kTorn).ok());
    if (h.store().tail_id() != 2 || h.store().committed_id() != 1 ||
        h.store().recovery_report().torn_tail_bytes != 0) {
      continue;  // not this sector pattern
    }
    ++reproduced;
    append_range(h, 3, 3, 8);
    ASSERT_TRUE(h.store().commit(3).ok());
    ASSERT_TRUE(h.sync().ok());
    auto all = h.read_all(0, 4);
    EXPECT_TRUE(all.ok()) << "seed " << seed << ": " << all.status();
    EXPECT_TRUE(h.store().missing().empty())
        << "seed " << seed << ": " << h.store().missing().to_string();
  }
  EXPECT_GT(reproduced, 0);
}

// Regression (recovery of the backfill log): the live and backfill logs sync independently,
// so a crash kept a backfill of id 1 but lost the gap commit to 2 that it came after (its new
// segment was still being created). Recovery kept entry 1 indexed above the recovered commit
// point 0, and the next gap commit listed 1 in missing() while reads still served it.
TEST(StreamStoreProperty, ABackfillWhoseGapCommitWasLostIsNeitherServedAsMissingNorKept) {
  std::vector<Entry> remote{entry_zero()};  // the cluster's entries 1..4
  for (uint64_t id = 1; id <= 4; ++id) remote.push_back(make_entry(id, remote.back().checksum));
  int reproduced = 0;
  for (int steps = 0; steps < 16; ++steps) {
    StoreHarness h;
    ASSERT_TRUE(h.open().ok());
    // A superseded proposal at 1, dropped by the gap commit (which cuts to a new segment).
    ASSERT_TRUE(h.store().append(make_entry(1, 0, 40, 77, {2, 2})).ok());
    ASSERT_TRUE(h.store().append_committed(remote[2]).ok());
    ASSERT_TRUE(h.store().put_backfill(remote[1], remote[0].checksum).ok());
    // Crash after `steps` disk operations of the sync.
    h.store().sync([](absl::Status) {});
    for (int i = 0; i < steps && h.sim().step(); ++i) {
    }
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    const uint64_t c = h.store().committed_id();
    if (c == 0 && find_entry_record(h.disk(), remote[1].checksum, ".fill.")) {
      ++reproduced;  // the backfill is durable, the gap commit it relied on is not
      EXPECT_EQ(h.store().locate(1), StreamStore::Location::kNone) << "crash after " << steps;
    }
    ASSERT_TRUE(h.store().append_committed(remote[4]).ok());
    // Every committed id is served with the cluster's content or listed missing, never both.
    for (uint64_t id = 0; id <= 4; ++id) {
      auto got = h.read(id, id + 1);
      if (h.store().missing().contains(id)) {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss)
            << "id " << id << " is missing but was served; crash after " << steps << " steps";
      } else {
        ASSERT_TRUE(got.ok()) << "id " << id << ": " << got.status();
        EXPECT_EQ(got->at(0), remote[id]) << "crash after " << steps << " steps";
      }
    }
    // Refilling what is missing works (highest first: each lower id starts a new segment).
    for (uint64_t id : {3, 2, 1}) {
      if (!h.store().missing().contains(id)) continue;
      ASSERT_TRUE(h.store().put_backfill(remote[id], remote[id - 1].checksum).ok()) << id;
    }
    ASSERT_TRUE(h.sync().ok());
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    EXPECT_TRUE(h.store().missing().empty()) << h.store().missing().to_string();
    auto all = h.read_all(0, 5);
    ASSERT_TRUE(all.ok()) << "crash after " << steps << " steps: " << all.status();
    EXPECT_EQ(*all, remote) << "crash after " << steps << " steps";
  }
  EXPECT_GT(reproduced, 0);
}

// Regression (reads across both logs): the backfill of 2 and 3 above, forgotten by recovery at
// C=1, came back at the next recovery once a gap commit to 3 was durable; a read that took 2
// from the backfill log scanned on there for 3 and served its copy with the old writer, not
// the live log's entry 3 at the commit point (head(3) disagreed with the entry served).
TEST(StreamStoreProperty, AResurfacedBackfillDoesNotShadowTheLiveCommittedEntry) {
  std::vector<Entry> remote{entry_zero()};  // the cluster's entries 1..4
  for (uint64_t id = 1; id <= 4; ++id) remote.push_back(make_entry(id, remote.back().checksum));
  int reproduced = 0;
  for (int steps = 0; steps < 16; ++steps) {
    StoreHarness h;
    ASSERT_TRUE(h.open().ok());
    ASSERT_TRUE(h.store().append(remote[1]).ok());
    ASSERT_TRUE(h.store().append(remote[2]).ok());
    ASSERT_TRUE(h.store().commit(1).ok());
    Entry four = remote[4];
    four.writer = {2, 1};
    ASSERT_TRUE(h.store().append_committed(four).ok());
    ASSERT_TRUE(h.store().put_backfill(remote[2], remote[1].checksum).ok());
    ASSERT_TRUE(h.store().put_backfill(remote[3], remote[2].checksum).ok());
    h.store().sync([](absl::Status) {});
    for (int i = 0; i < steps && h.sim().step(); ++i) {
    }
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    if (h.store().committed_id() >= 3) continue;
    const bool stale = find_entry_record(h.disk(), remote[3].checksum, ".fill.").has_value();
    Entry three = remote[3];
    three.writer = {3, 1};
    ASSERT_TRUE(h.store().append_committed(three).ok());
    ASSERT_TRUE(h.sync().ok());
    ASSERT_TRUE(h.crash_and_reopen(sim::CrashMode::kLoseAll).ok());
    ASSERT_EQ(h.store().committed_id(), 3u);
    if (stale && h.store().locate(2) == StreamStore::Location::kBackfill) ++reproduced;
    // From 2 when it is here (that read crosses from the backfill log to the live one).
    const uint64_t from = h.store().missing().contains(2) ? 3 : 2;
    auto got = h.read_all(from, 4, true);
    ASSERT_TRUE(got.ok()) << "crash after " << steps << " steps: " << got.status();
    ASSERT_FALSE(got->empty());
    EXPECT_EQ(got->back(), three) << "crash after " << steps << " steps";
    EXPECT_EQ(h.store().head(3)->writer, got->back().writer);
  }
  EXPECT_GT(reproduced, 0);
}

RC_GTEST_PROP(StreamStoreProperty, RandomHistoriesKeepTheDurabilityContract, ()) {
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1u << 30).as("sim seed");
  const std::vector<Op> ops =
      *rc::gen::resize(200, rc::gen::container<std::vector<Op>>(op_gen())).as("ops");
  PropertyRun run(seed);
  for (size_t i = 0; i < ops.size(); ++i) run.run(ops[i], i);
  run.check_reads_match_model();
  for (const std::string& tag : run.tags_) RC_TAG(tag);
}

// The same contract when the store syncs through the shared journal: its segment files are
// never synced by a flush, only redone from the journal after a crash, and checkpointed when
// the (small) journal rolls.
RC_GTEST_PROP(StreamStoreProperty, RandomHistoriesKeepTheDurabilityContractThroughTheJournal, ()) {
  const uint64_t seed = *rc::gen::inRange<uint64_t>(1, 1u << 30).as("sim seed");
  const std::vector<Op> ops =
      *rc::gen::resize(200, rc::gen::container<std::vector<Op>>(op_gen())).as("ops");
  PropertyRun run(seed, /*journaled=*/true);
  for (size_t i = 0; i < ops.size(); ++i) run.run(ops[i], i);
  run.check_reads_match_model();
  for (const std::string& tag : run.tags_) RC_TAG(tag);
  if (run.journal_checkpoints() > 0) RC_TAG("journal checkpointed");
}

}  // namespace
}  // namespace walle::storage::testing
