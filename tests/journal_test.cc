// The shared journal (core/storage/journal.h): one fdatasync per round for many stores, redo
// after a crash, damage confined to the stream a corrupt record belongs to, checkpoints that
// leave idle streams alone.

#include "core/storage/journal.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/storage_harness.h"

namespace walle::storage::testing {
namespace {

// Several stores of one node, all syncing through the node's journal.
class JournalStores {
 public:
  // journal: nullopt for stores that sync their own files (the comparison).
  explicit JournalStores(std::optional<JournalOptions> journal = small_journal_options())
      : journaled_(journal.has_value()) {
    if (journal) h_.use_journal(*journal);
  }

  StoreHarness& harness() { return h_; }

  // (Re)opens the journal, then stores "s0".."s<n-1>".
  void open(int n) {
    stores_.clear();
    StoreOptions options = small_options();
    if (journaled_) {
      ASSERT_TRUE(h_.open_journal().ok());
      options.journal = h_.journal();
    }
    for (int i = 0; i < n; ++i) {
      std::optional<absl::StatusOr<std::unique_ptr<StreamStore>>> result;
      StreamStore::open(h_.node().env.files, "s" + std::to_string(i), options,
                        [&result](absl::StatusOr<std::unique_ptr<StreamStore>> s) {
                          result = std::move(s);
                        });
      h_.run_until([&result] { return result.has_value(); });
      ASSERT_TRUE(result.has_value() && result->ok()) << i;
      stores_.push_back(std::move(**result));
    }
  }

  StreamStore& store(int i) { return *stores_[i]; }

  // Appends entry `id` (committed at once) to store i.
  void put(int i, uint64_t id, size_t size = 100) {
    const uint64_t previous = store(i).head(id - 1)->checksum;
    const Entry entry = make_entry(id, previous, size, /*salt=*/i);
    ASSERT_TRUE(store(i).append(entry).ok());
    ASSERT_TRUE(store(i).commit(id).ok());
  }

  // Syncs every store at once and runs until all are answered; returns the disk syncs spent.
  uint64_t sync_all() {
    const uint64_t before = h_.sim().stats().disk_syncs;
    int answered = 0;
    for (auto& store : stores_) {
      store->sync([&answered](absl::Status s) {
        EXPECT_TRUE(s.ok()) << s;
        ++answered;
      });
    }
    const int n = static_cast<int>(stores_.size());
    h_.run_until([&] { return answered == n; });
    EXPECT_EQ(answered, n);
    return h_.sim().stats().disk_syncs - before;
  }

  // Crashes the node losing every unsynced write: only the journal keeps the stores' bytes.
  void crash() {
    stores_.clear();
    ASSERT_TRUE(h_.sim().crash(0, sim::CrashMode::kLoseAll).ok());
    ASSERT_TRUE(h_.sim().start(0).ok());
    h_.sim().run_for(kNanosPerMicro);
  }

 private:
  bool journaled_;
  StoreHarness h_;
  std::vector<std::unique_ptr<StreamStore>> stores_;
};

JournalOptions roomy_journal() {
  JournalOptions o;
  o.segment_bytes = 1 << 20;  // no checkpoint in these tests
  return o;
}

TEST(Journal, OneRoundOfSyncsCostsTheSameForOneStreamAsForSixteen) {
  // Disk syncs for one round in which every store has something to sync.
  auto syncs_for = [](int n, std::optional<JournalOptions> journal) {
    JournalStores stores(journal);
    stores.open(n);
    for (int i = 0; i < n; ++i) stores.put(i, 1);
    stores.sync_all();  // the first round creates segments (renames, directory syncs)
    for (int i = 0; i < n; ++i) stores.put(i, 2);
    return stores.sync_all();
  };
  const uint64_t one = syncs_for(1, roomy_journal());
  const uint64_t sixteen = syncs_for(16, roomy_journal());
  const uint64_t sixteen_alone = syncs_for(16, std::nullopt);
  EXPECT_GE(one, 1u);
  // Stores whose sync calls arrive while the journal's flush is out share the next one: at
  // most two rounds, whatever the number of stores.
  EXPECT_LE(sixteen, 2 * one) << "one store: " << one << " syncs, sixteen: " << sixteen;
  // Without the journal every store pays its own.
  EXPECT_GE(sixteen_alone, 16u);
}

TEST(Journal, AcknowledgedEntriesOfEveryStreamSurviveACrashThatLosesTheirFiles) {
  JournalStores stores(roomy_journal());
  stores.open(4);
  for (uint64_t id = 1; id <= 5; ++id) {
    for (int i = 0; i < 4; ++i) stores.put(i, id);
    stores.sync_all();
  }
  stores.crash();
  stores.open(4);
  EXPECT_GT(stores.harness().journal()->recovery().redone_writes, 0u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(stores.store(i).committed_id(), 5u) << "s" << i;
    EXPECT_TRUE(stores.store(i).missing().empty()) << "s" << i;
    EXPECT_EQ(stores.store(i).recovery_report().tail_damage(), TailDamage::kNone) << "s" << i;
  }
}

TEST(Journal, ACorruptJournalRecordDamagesOnlyTheStreamItBelongsTo) {
  JournalStores stores(roomy_journal());
  stores.open(2);
  std::vector<uint64_t> s0_checksums;
  for (uint64_t id = 1; id <= 4; ++id) {
    stores.put(0, id, 300);
    stores.put(1, id, 300);
    s0_checksums.push_back(stores.store(0).head(id)->checksum);
    stores.sync_all();
  }
  stores.crash();
  // s0's entry 2 is in the journal only (its file lost the unsynced write): rot it there.
  const auto at = find_entry_record(stores.harness().disk(), s0_checksums[1], "JOURNAL.");
  ASSERT_TRUE(at.has_value());
  ASSERT_TRUE(stores.harness().disk().flip_bit(at->first, at->second + 3, 1).ok());
  stores.open(2);
  EXPECT_TRUE(stores.harness().journal()->recovery().holes);
  EXPECT_GT(stores.harness().journal()->recovery().lost_bytes_marked, 0u);
  // s0: entry 2 is committed history this member lost; listed missing, to refill from peers.
  EXPECT_TRUE(stores.store(0).missing().contains(2)) << stores.store(0).missing().to_string();
  EXPECT_EQ(stores.store(0).committed_id(), 4u);
  // s1: untouched.
  EXPECT_EQ(stores.store(1).committed_id(), 4u);
  EXPECT_TRUE(stores.store(1).missing().empty()) << stores.store(1).missing().to_string();
  EXPECT_EQ(stores.store(1).recovery_report().tail_damage(), TailDamage::kNone);
}

TEST(Journal, CheckpointsSyncOnlyTheStreamsThatWroteAndBoundTheJournal) {
  JournalOptions options = small_journal_options();  // 8 KiB segments, checkpoint at 2
  JournalStores stores(options);
  stores.open(3);
  stores.put(2, 1);  // s2 writes once, then stays idle
  stores.sync_all();
  for (uint64_t id = 1; id <= 60; ++id) {
    stores.put(0, id, 200);
    stores.put(1, id, 200);
    stores.sync_all();
  }
  Journal& journal = *stores.harness().journal();
  EXPECT_GT(journal.checkpoints(), 0u);
  EXPECT_LE(journal.segments(), options.checkpoint_segments + 1);
  stores.crash();
  stores.open(3);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(stores.store(i).committed_id(), 60u) << "s" << i;
  EXPECT_EQ(stores.store(2).committed_id(), 1u);
}

// A directory that goes on without its journal (walle --sync per-stream after a journaled
// run): the journal is redone, then removed, and the stores, opened on their own, hold every
// acknowledged entry.
TEST(Journal, RedoneThenRemovedItLeavesTheStoresWhole) {
  JournalStores stores(roomy_journal());
  stores.open(2);
  for (uint64_t id = 1; id <= 3; ++id) {
    for (int i = 0; i < 2; ++i) stores.put(i, id);
    stores.sync_all();
  }
  stores.crash();
  StoreHarness& h = stores.harness();
  ASSERT_TRUE(Journal::exists_in(h.node().env.files));
  ASSERT_TRUE(h.open_journal().ok());
  EXPECT_GT(h.journal()->recovery().redone_writes, 0u);
  ASSERT_TRUE(h.run_io([&](IoDone done) { h.journal()->remove(std::move(done)); }).ok());
  h.node().journal.reset();
  EXPECT_FALSE(Journal::exists_in(h.node().env.files));
  for (int i = 0; i < 2; ++i) {
    std::optional<absl::StatusOr<std::unique_ptr<StreamStore>>> result;
    StreamStore::open(h.node().env.files, "s" + std::to_string(i), small_options(),
                      [&result](absl::StatusOr<std::unique_ptr<StreamStore>> s) {
                        result = std::move(s);
                      });
    h.run_until([&result] { return result.has_value(); });
    ASSERT_TRUE(result.has_value() && result->ok()) << i;
    EXPECT_EQ((**result)->committed_id(), 3u) << "s" << i;
  }
}

}  // namespace
}  // namespace walle::storage::testing
