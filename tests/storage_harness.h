#pragma once

// Drives a StreamStore on one simulated node, step by step: open, mutate, sync, read, crash
// and recover, with every asynchronous call run to completion.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/storage/stream_store.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"

namespace walle::storage::testing {

// The process: it owns the store, so a crash destroys the store with it.
class StoreNode final : public Node {
 public:
  explicit StoreNode(Env& env) : env(env) {}
  void start() override {}
  void receive(NodeId, std::string_view) override {}
  // After every step (NodeHost): each test checks the store's invariants as it goes.
  void check_invariants() const override {
    if (store != nullptr) store->check_invariants();
    if (journal != nullptr) journal->check_invariants();
  }
  Env& env;
  std::unique_ptr<Journal> journal;  // outlives the store, which syncs through it
  std::unique_ptr<StreamStore> store;
};

// Entry `id` chained from `previous`, with `size` bytes of data derived from id and salt.
inline Entry make_entry(uint64_t id, uint64_t previous, size_t size = 40, uint64_t salt = 0,
                        WriterId writer = {1, 1}) {
  Entry e;
  e.id = id;
  e.writer = writer;
  e.data.resize(size);
  for (size_t i = 0; i < size; ++i) e.data[i] = static_cast<char>('a' + (id * 7 + i + salt) % 26);
  e.checksum = chain_checksum(previous, e.data);
  return e;
}

// Where the record of the entry whose rolling checksum is `checksum` lies: the first file
// whose name contains `name_part` holding those 8 bytes, and their offset (inside the
// record's payload, so a bit flipped there fails the record's check).
inline std::optional<std::pair<std::string, uint64_t>> find_entry_record(
    sim::SimDisk& disk, uint64_t checksum, std::string_view name_part = ".live.") {
  const std::string needle(reinterpret_cast<const char*>(&checksum), sizeof(checksum));
  for (const std::string& name : disk.list()) {
    if (name.find(name_part) == std::string::npos) continue;
    const size_t at = disk.peek(name)->find(needle);
    if (at != std::string::npos) return std::make_pair(name, static_cast<uint64_t>(at));
  }
  return std::nullopt;
}

// Flips a bit inside that record; fails the test if there is none.
inline void rot_entry_record(sim::SimDisk& disk, uint64_t checksum) {
  const auto at = find_entry_record(disk, checksum);
  ASSERT_TRUE(at.has_value()) << "no record with checksum " << checksum;
  ASSERT_TRUE(disk.flip_bit(at->first, at->second + 3, 2).ok());
}

// Small journal segments, so that short histories roll, checkpoint and trim the journal.
inline JournalOptions small_journal_options() {
  JournalOptions o;
  o.segment_bytes = 8192;
  o.checkpoint_segments = 2;
  o.checkpoint_parallelism = 2;
  return o;
}

inline StoreOptions small_options() {
  StoreOptions o;
  o.max_entry_bytes = 1024;
  o.segment_bytes = 8192;
  o.read_chunk_bytes = 1024;
  o.index_interval_bytes = 512;
  o.max_queued_bytes = 1 << 20;
  o.max_uncommitted_entries = 1000;
  return o;
}

class StoreHarness {
 public:
  StoreHarness() : StoreHarness(default_config(1)) {}
  explicit StoreHarness(sim::SimConfig config) {
    auto created =
        sim::Simulation::create(config, [](Env& env) { return std::make_unique<StoreNode>(env); });
    EXPECT_TRUE(created.ok()) << created.status();
    sim_ = std::move(*created);
    sim_->start_all();
    sim_->run_for(kNanosPerMicro);
  }

  static sim::SimConfig default_config(uint64_t seed = 1) {
    sim::SimConfig c;
    c.seed = seed;
    c.node_count = 1;
    return c;
  }

  sim::Simulation& sim() { return *sim_; }
  sim::SimDisk& disk() { return sim_->disk(0); }
  StoreNode& node() { return *sim_->node_as<StoreNode>(0); }
  StreamStore& store() { return *node().store; }

  // From the next open on, the store syncs through a journal (opened, and so redone, before
  // the store at every open after a crash).
  void use_journal(const JournalOptions& options) { journal_options_ = options; }

  absl::Status open_journal() {
    std::optional<absl::StatusOr<std::unique_ptr<Journal>>> result;
    Journal::open(node().env.files, *journal_options_,
                  [&result](absl::StatusOr<std::unique_ptr<Journal>> j) { result = std::move(j); });
    run_until([&result] { return result.has_value(); });
    if (!result) return absl::InternalError("journal open never completed");
    if (!result->ok()) return result->status();
    node().journal = std::move(**result);
    return absl::OkStatus();
  }

  Journal* journal() { return node().journal.get(); }

  absl::Status open(StoreOptions options = small_options(), std::string name = "s1") {
    if (journal_options_ && node().journal == nullptr) {
      if (absl::Status s = open_journal(); !s.ok()) return s;
    }
    if (journal_options_) options.journal = node().journal.get();
    std::optional<absl::StatusOr<std::unique_ptr<StreamStore>>> result;
    StreamStore::open(
        node().env.files, std::move(name), options,
        [&result](absl::StatusOr<std::unique_ptr<StreamStore>> s) { result = std::move(s); });
    run_until([&result] { return result.has_value(); });
    if (!result) return absl::InternalError("open never completed");
    if (!result->ok()) return result->status();
    node().store = std::move(**result);
    return absl::OkStatus();
  }

  absl::Status sync() {
    return run_io([this](IoDone done) { store().sync(std::move(done)); });
  }

  absl::Status run_io(absl::AnyInvocable<void(IoDone)> op) {
    std::optional<absl::Status> result;
    op([&result](absl::Status s) { result = std::move(s); });
    run_until([&result] { return result.has_value(); });
    return result.value_or(absl::InternalError("operation never completed"));
  }

  absl::StatusOr<std::vector<Entry>> read(uint64_t from, uint64_t to,
                                          uint64_t max_bytes = UINT64_MAX,
                                          bool allow_uncommitted = false) {
    std::optional<absl::StatusOr<std::vector<Entry>>> result;
    store().read(from, to, max_bytes, allow_uncommitted,
                 [&result](absl::StatusOr<std::vector<Entry>> r) { result = std::move(r); });
    run_until([&result] { return result.has_value(); });
    if (!result) return absl::InternalError("read never completed");
    return std::move(*result);
  }

  // Reads [from, to) completely, chunk by chunk, as a cursor would.
  absl::StatusOr<std::vector<Entry>> read_all(uint64_t from, uint64_t to,
                                              bool allow_uncommitted = false) {
    std::vector<Entry> out;
    while (from < to) {
      auto part = read(from, to, 4096, allow_uncommitted);
      if (!part.ok()) return part.status();
      if (part->empty()) break;
      from = part->back().id + 1;
      for (Entry& e : *part) out.push_back(std::move(e));
    }
    return out;
  }

  // Crashes the node (the store dies with it; unsynced writes are lost or torn as `mode`
  // says), restarts it and reopens the store.
  absl::Status crash_and_reopen(std::optional<sim::CrashMode> mode = std::nullopt,
                                const StoreOptions& options = small_options()) {
    EXPECT_TRUE(sim_->crash(0, mode).ok());
    EXPECT_TRUE(sim_->start(0).ok());
    sim_->run_for(kNanosPerMicro);
    return open(options);
  }

  template <class Pred>
  void run_until(Pred done) {
    while (!done() && sim_->step()) {
    }
  }

 private:
  std::unique_ptr<sim::Simulation> sim_;
  std::optional<JournalOptions> journal_options_;
};

}  // namespace walle::storage::testing
