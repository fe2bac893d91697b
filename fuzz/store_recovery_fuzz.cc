// libFuzzer target: arbitrary bytes as the files of a stream, then recovery and reads.
//
// Two ways to build the files, chosen by the first input byte:
// - raw: "s1.meta", "s1.live.00000001", "s1.live.00000002" and "s1.fill.00000001" hold slices
//   of the input (the metadata optionally a valid record with fuzzed fields, to get past its
//   check);
// - seeded: a real store runs a fuzz-chosen history (appends, commits, truncations, gap
//   commits, backfills, syncs, trims), then its files are patched at fuzz-chosen offsets: bytes
//   overwritten, ranges copied within a file (valid records in the wrong place), files cut
//   short or removed.
// Either way, half the inputs (a bit of the first byte) run the store through a journal
// (core/storage/journal.h), whose files the patches may hit too, and open it (its redo) first.
// Then StreamStore::open and a read of everything readable. It must never crash, consecutive
// entries served must chain, and (seeded) every entry served must be one that was written at
// that id. A few more mutations, a crash and a second recovery follow, checked the same way.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/env/node.h"
#include "core/storage/record_format.h"
#include "core/storage/journal.h"
#include "core/storage/records.h"
#include "core/storage/store_files.h"
#include "core/storage/stream_store.h"
#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::storage {
namespace {

class FuzzNode final : public Node {
 public:
  explicit FuzzNode(Env& env) : env(env) {}
  void start() override {}
  void receive(NodeId, std::string_view) override {}
  Env& env;
  std::unique_ptr<Journal> journal;  // outlives the store
  std::unique_ptr<StreamStore> store;
};

JournalOptions fuzz_journal_options() {
  JournalOptions o;
  o.segment_bytes = 8192;
  o.checkpoint_segments = 2;
  o.checkpoint_parallelism = 2;
  return o;
}

StoreOptions fuzz_options() {
  StoreOptions o;
  o.max_entry_bytes = 1024;
  o.segment_bytes = 8192;
  o.read_chunk_bytes = 1024;
  o.index_interval_bytes = 512;
  o.max_queued_bytes = 1 << 20;
  o.max_uncommitted_entries = 64;
  return o;
}

Entry make_entry(uint64_t id, uint64_t previous, size_t size, uint64_t salt, WriterId writer) {
  Entry e;
  e.id = id;
  e.writer = writer;
  e.data.resize(size);
  for (size_t i = 0; i < size; ++i) e.data[i] = static_cast<char>('a' + (id * 7 + i + salt) % 26);
  e.checksum = chain_checksum(previous, e.data);
  return e;
}

class World {
 public:
  World() {
    sim::SimConfig config;
    config.seed = 1;
    config.node_count = 1;
    auto created =
        sim::Simulation::create(config, [](Env& env) { return std::make_unique<FuzzNode>(env); });
    WALLE_CHECK(created.ok());
    sim_ = std::move(*created);
    sim_->start_all();
    sim_->run_for(kNanosPerMicro);
  }

  FuzzNode& node() { return *sim_->node_as<FuzzNode>(0); }
  FileSystem& files() { return node().env.files; }
  StreamStore* store() { return node().store.get(); }

  template <class Pred>
  void run_until(Pred done) {
    while (!done() && sim_->step()) {
    }
  }

  absl::Status run_io(absl::AnyInvocable<void(IoDone)> op) {
    std::optional<absl::Status> result;
    op([&result](absl::Status s) { result = std::move(s); });
    run_until([&result] { return result.has_value(); });
    return result.value_or(absl::InternalError("operation never completed"));
  }

  void set_journaled(bool journaled) { journaled_ = journaled; }

  absl::Status open() {
    StoreOptions options = fuzz_options();
    if (journaled_) {
      if (node().journal == nullptr) {
        std::optional<absl::StatusOr<std::unique_ptr<Journal>>> opened;
        Journal::open(files(), fuzz_journal_options(),
                      [&opened](absl::StatusOr<std::unique_ptr<Journal>> j) { opened = std::move(j); });
        run_until([&opened] { return opened.has_value(); });
        if (!opened) return absl::InternalError("journal open never completed");
        if (!opened->ok()) return opened->status();
        node().journal = std::move(**opened);
      }
      options.journal = node().journal.get();
    }
    std::optional<absl::StatusOr<std::unique_ptr<StreamStore>>> result;
    StreamStore::open(
        files(), "s1", options,
        [&result](absl::StatusOr<std::unique_ptr<StreamStore>> s) { result = std::move(s); });
    run_until([&result] { return result.has_value(); });
    if (!result) return absl::InternalError("open never completed");
    if (!result->ok()) return result->status();
    node().store = std::move(**result);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Entry>> read(uint64_t from, uint64_t to) {
    std::optional<absl::StatusOr<std::vector<Entry>>> result;
    store()->read(from, to, 4096, true,
                  [&result](absl::StatusOr<std::vector<Entry>> r) { result = std::move(r); });
    run_until([&result] { return result.has_value(); });
    if (!result) return absl::InternalError("read never completed");
    return std::move(*result);
  }

  // Crashes the node (the store dies with it) and restarts it, the disk as it was.
  void restart(sim::CrashMode mode) {
    WALLE_CHECK(sim_->crash(0, mode).ok());
    WALLE_CHECK(sim_->start(0).ok());
    sim_->run_for(kNanosPerMicro);
  }

  absl::Status write_file(const std::string& name, const std::string& bytes, bool truncate) {
    absl::StatusOr<std::unique_ptr<File>> file = files().open(name, OpenMode::kCreateIfMissing);
    if (!file.ok()) return file.status();
    File* f = file->get();
    absl::Status s = absl::OkStatus();
    if (truncate) s.Update(run_io([&](IoDone done) { f->truncate(0, std::move(done)); }));
    if (!bytes.empty()) {
      s.Update(run_io([&](IoDone done) { f->write_at(0, bytes, std::move(done)); }));
    }
    s.Update(run_io([&](IoDone done) { f->sync(std::move(done)); }));
    return s;
  }

  absl::Status patch_file(const std::string& name, uint64_t offset, const std::string& bytes) {
    absl::StatusOr<std::unique_ptr<File>> file = files().open(name, OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    File* f = file->get();
    absl::Status s = run_io([&](IoDone done) { f->write_at(offset, bytes, std::move(done)); });
    s.Update(run_io([&](IoDone done) { f->sync(std::move(done)); }));
    return s;
  }

  absl::Status cut_file(const std::string& name, uint64_t size) {
    absl::StatusOr<std::unique_ptr<File>> file = files().open(name, OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    File* f = file->get();
    absl::Status s = run_io([&](IoDone done) { f->truncate(size, std::move(done)); });
    s.Update(run_io([&](IoDone done) { f->sync(std::move(done)); }));
    return s;
  }

  std::string peek(const std::string& name) {
    absl::StatusOr<std::string> bytes = sim_->disk(0).peek(name);
    return bytes.ok() ? *bytes : std::string();
  }

 private:
  std::unique_ptr<sim::Simulation> sim_;
  bool journaled_ = false;
};

// Every entry written at each id: id -> checksum -> entry.
using Written = std::map<uint64_t, std::map<uint64_t, Entry>>;

// Reads everything from the trim point to the tail (uncommitted included), skipping ids that
// fail, and checks what is served.
void read_and_check(World& w, const Written* written) {
  StreamStore& s = *w.store();
  uint64_t from = s.meta().first_entry_id;
  const uint64_t end = s.tail_id() + 1;
  std::optional<Entry> previous;
  int reads = 0;
  while (from < end && ++reads < 4096) {
    absl::StatusOr<std::vector<Entry>> part = w.read(from, end);
    if (!part.ok()) {
      previous.reset();
      ++from;
      continue;
    }
    WALLE_CHECK_MSG(!part->empty(), "a read of a non-empty range returned nothing");
    for (const Entry& e : *part) {
      WALLE_CHECK_MSG(e.id == from, "entries served out of order");
      if (previous) {
        WALLE_CHECK_MSG(e.checksum == chain_checksum(previous->checksum, e.data),
                        "an entry served does not chain from the one before");
      }
      if (e.id >= s.committed_id() && e.id <= s.tail_id()) {
        const std::optional<EntryHead> head = s.head(e.id);
        WALLE_CHECK_MSG(head && head->checksum == e.checksum,
                        "an entry served disagrees with the window");
      }
      if (written != nullptr) {
        auto at = written->find(e.id);
        WALLE_CHECK_MSG(at != written->end() && at->second.contains(e.checksum) &&
                            at->second.at(e.checksum).data == e.data,
                        "an entry served was never written at that id");
      }
      previous = e;
      ++from;
    }
  }
}

// A fuzz-chosen history on a real store; returns false if the store could not be created.
bool run_history(World& w, FuzzedDataProvider& in, Written& written) {
  if (!w.open().ok()) return false;
  written[0][0] = entry_zero();
  std::map<uint64_t, Entry> cluster{{0, entry_zero()}};  // committed content, for gap commits
  WriterId writer{1, 1};
  uint64_t salt = 0;
  const int steps = in.ConsumeIntegralInRange<int>(0, 48);
  for (int i = 0; i < steps && in.remaining_bytes() > 0; ++i) {
    StreamStore& s = *w.store();
    const uint64_t c = s.committed_id();
    const uint64_t t = s.tail_id();
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:
      case 1: {  // append a few
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) ++writer.ts;
        for (int k = in.ConsumeIntegralInRange<int>(1, 6); k > 0; --k) {
          const uint64_t tail = s.tail_id();
          const std::optional<EntryHead> head = s.head(tail);
          if (!head) break;
          const Entry e = make_entry(tail + 1, head->checksum,
                                     in.ConsumeIntegralInRange<size_t>(0, 1024), ++salt, writer);
          written[e.id][e.checksum] = e;
          if (!s.append(e).ok()) break;
        }
        break;
      }
      case 2:  // commit
        if (t > c) {
          const uint64_t id = in.ConsumeIntegralInRange<uint64_t>(c + 1, t);
          for (uint64_t x = c + 1; x <= id; ++x) {
            const std::optional<EntryHead> head = s.head(x);
            if (head) cluster[x] = written[x][head->checksum];
          }
          (void)s.commit(id);
        }
        break;
      case 3:  // truncate
        (void)s.truncate_after(in.ConsumeIntegralInRange<uint64_t>(c, t));
        break;
      case 4: {  // gap commit from the cluster's (or a new) chain
        const uint64_t id = c + in.ConsumeIntegralInRange<uint64_t>(1, 4);
        if (!cluster.contains(c)) break;
        for (uint64_t x = c + 1; x <= id; ++x) {
          if (!cluster.contains(x)) {
            cluster[x] = make_entry(x, cluster.at(x - 1).checksum,
                                    in.ConsumeIntegralInRange<size_t>(0, 300), ++salt, writer);
          }
          written[x][cluster[x].checksum] = cluster[x];
        }
        (void)s.append_committed(cluster.at(id));
        break;
      }
      case 5: {  // backfill the first missing ids
        const RangeSet& missing = s.missing();
        if (missing.empty()) break;
        const auto [begin, end] = *missing.ranges().begin();
        for (uint64_t id = begin; id < end && id < begin + 4; ++id) {
          if (id == 0 || !cluster.contains(id) || !cluster.contains(id - 1)) break;
          if (!s.put_backfill(cluster.at(id), cluster.at(id - 1).checksum).ok()) break;
        }
        break;
      }
      case 6:
        (void)w.run_io([&](IoDone done) { s.sync(std::move(done)); });
        break;
      case 7: {  // trim to a committed id
        const uint64_t first = s.meta().first_entry_id;
        if (c <= first) break;
        const uint64_t id = in.ConsumeIntegralInRange<uint64_t>(first + 1, c);
        if (!cluster.contains(id)) break;
        (void)w.run_io([&](IoDone done) { s.trim(id, cluster.at(id).checksum, std::move(done)); });
        break;
      }
    }
  }
  (void)w.run_io([&](IoDone done) { w.store()->sync(std::move(done)); });
  return true;
}

void patch_files(World& w, FuzzedDataProvider& in) {
  for (int patches = in.ConsumeIntegralInRange<int>(0, 8); patches > 0; --patches) {
    std::vector<std::string> names = w.files().list();
    if (names.empty() || in.remaining_bytes() == 0) return;
    const std::string name = names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)];
    const std::string bytes = w.peek(name);
    const uint64_t size = bytes.size();
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0:
      case 1: {  // overwrite a few bytes
        const uint64_t offset = in.ConsumeIntegralInRange<uint64_t>(0, size);
        (void)w.patch_file(name, offset,
                           in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 64)));
        break;
      }
      case 2: {  // copy a range within the file: valid records where they do not belong
        if (size < 8) break;
        const uint64_t from = in.ConsumeIntegralInRange<uint64_t>(0, size / 8 - 1) * 8;
        const uint64_t to = in.ConsumeIntegralInRange<uint64_t>(0, size / 8 - 1) * 8;
        const uint64_t length = in.ConsumeIntegralInRange<uint64_t>(8, 2048);
        (void)w.patch_file(name, to, bytes.substr(from, length));
        break;
      }
      case 3:  // cut the file short
        (void)w.cut_file(name, in.ConsumeIntegralInRange<uint64_t>(0, size));
        break;
      case 4:  // remove it
        (void)w.run_io([&](IoDone done) { w.files().remove(name, std::move(done)); });
        break;
    }
  }
  (void)w.run_io([&](IoDone done) { w.files().sync_dir(std::move(done)); });
}

void write_raw_files(World& w, FuzzedDataProvider& in) {
  if (in.ConsumeBool()) {
    StreamMeta meta;
    meta.first_entry_id = in.ConsumeIntegralInRange<uint64_t>(0, 64);
    meta.first_entry_checksum = in.ConsumeIntegral<uint64_t>();
    std::string bytes;
    append_record(bytes, RecordType::kMeta, encode_payload(meta), meta_seed("s1"));
    (void)w.write_file(meta_file("s1"), bytes, true);
  } else if (in.ConsumeBool()) {
    (void)w.write_file(meta_file("s1"),
                       in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, 256)), true);
  }
  for (const char* name : {"s1.live.00000001", "s1.live.00000002", "s1.fill.00000001"}) {
    if (!in.ConsumeBool()) continue;
    (void)w.write_file(name, in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, 9000)),
                       true);
  }
  (void)w.run_io([&](IoDone done) { w.files().sync_dir(std::move(done)); });
}

// Mutations on the recovered store, then a crash and a second recovery.
void continue_after_recovery(World& w, FuzzedDataProvider& in, Written* written) {
  StreamStore& s = *w.store();
  for (int k = in.ConsumeIntegralInRange<int>(0, 4); k > 0; --k) {
    const uint64_t tail = s.tail_id();
    const std::optional<EntryHead> head = s.head(tail);
    if (!head) break;
    const Entry e = make_entry(tail + 1, head->checksum, in.ConsumeIntegralInRange<size_t>(0, 600),
                               1000 + k, {1000, 1});
    if (written != nullptr) (*written)[e.id][e.checksum] = e;
    if (!s.append(e).ok()) break;
  }
  if (in.ConsumeBool() && s.tail_id() > s.committed_id()) (void)s.commit(s.tail_id());
  (void)w.run_io([&](IoDone done) { s.sync(std::move(done)); });
  w.restart(static_cast<sim::CrashMode>(in.ConsumeIntegralInRange<int>(0, 2)));
  if (w.open().ok()) read_and_check(w, written);
}

}  // namespace
}  // namespace walle::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walle::storage;
  FuzzedDataProvider in(data, size);
  World w;
  Written written;
  const uint8_t mode = in.ConsumeIntegral<uint8_t>();  // bit 0 as ConsumeBool() read it
  const bool seeded = (mode & 1) != 0;
  w.set_journaled((mode & 2) != 0);
  if (seeded) {
    if (!run_history(w, in, written)) return 0;
    w.restart(walle::sim::CrashMode::kKeepAll);
    patch_files(w, in);
  } else {
    write_raw_files(w, in);
  }
  w.restart(walle::sim::CrashMode::kKeepAll);
  if (!w.open().ok()) return 0;
  read_and_check(w, seeded ? &written : nullptr);
  continue_after_recovery(w, in, seeded ? &written : nullptr);
  return 0;
}
