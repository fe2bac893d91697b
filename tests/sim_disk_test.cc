#include "sim/sim_disk.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class DiskNode final : public Node {
 public:
  explicit DiskNode(Env& env) : env(env) {}
  void start() override {}
  void receive(NodeId, std::string_view) override {}
  Env& env;
};

// `n` bytes of letters from `alphabet`, starting at `phase`; never zero bytes, so that a sector
// that reverted to zeros is told apart from one that holds data.
std::string pattern(size_t n, std::string_view alphabet, size_t phase = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = alphabet[(i + phase) % alphabet.size()];
  return s;
}
constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kDigits = "0123456789";

constexpr CrashMode kAllModes[] = {CrashMode::kLoseAll, CrashMode::kTorn, CrashMode::kKeepAll};

class SimDiskTest : public ::testing::Test {
 protected:
  static SimConfig default_config(uint64_t seed = 1) {
    SimConfig c;
    c.seed = seed;
    c.node_count = 1;
    return c;
  }

  void make(const SimConfig& config) {
    auto created =
        Simulation::create(config, [](Env& env) { return std::make_unique<DiskNode>(env); });
    ASSERT_TRUE(created.ok()) << created.status();
    sim_ = std::move(*created);
    sim_->start_all();
    sim_->run_for(kNanosPerMicro);
  }

  // The node's FileSystem: the same object as the simulation's disk.
  FileSystem& fs() {
    DiskNode* n = sim_->node_as<DiskNode>(0);
    EXPECT_NE(n, nullptr);
    return n->env.files;
  }
  SimDisk& disk() { return sim_->disk(0); }
  SimStats& stats() { return sim_->stats(); }

  // Runs the scheduler until `op`'s completion arrives.
  absl::Status run_io(absl::AnyInvocable<void(IoDone)> op) {
    std::optional<absl::Status> result;
    op([&result](absl::Status s) { result = std::move(s); });
    EXPECT_FALSE(result.has_value()) << "completion ran inside the submitting call";
    while (!result.has_value() && sim_->step()) {
    }
    EXPECT_TRUE(result.has_value()) << "operation never completed";
    return result.value_or(absl::InternalError("never completed"));
  }
  absl::Status append(File& f, std::string data) {
    return run_io([&](IoDone done) { f.append(std::move(data), std::move(done)); });
  }
  absl::Status write_at(File& f, uint64_t offset, std::string data) {
    return run_io([&](IoDone done) { f.write_at(offset, std::move(data), std::move(done)); });
  }
  absl::Status sync(File& f) {
    return run_io([&](IoDone done) { f.sync(std::move(done)); });
  }
  absl::Status truncate(File& f, uint64_t size) {
    return run_io([&](IoDone done) { f.truncate(size, std::move(done)); });
  }
  absl::Status sync_dir() {
    return run_io([&](IoDone done) { fs().sync_dir(std::move(done)); });
  }
  absl::Status rename(std::string_view from, std::string_view to) {
    return run_io([&](IoDone done) { fs().rename(from, to, std::move(done)); });
  }
  absl::Status remove(std::string_view name) {
    return run_io([&](IoDone done) { fs().remove(name, std::move(done)); });
  }
  absl::StatusOr<std::string> read(File& f, uint64_t offset, uint64_t length) {
    std::optional<absl::StatusOr<std::string>> result;
    f.read_at(offset, length, [&result](absl::StatusOr<std::string> r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value());
    while (!result.has_value() && sim_->step()) {
    }
    EXPECT_TRUE(result.has_value()) << "read never completed";
    return result.value_or(absl::InternalError("never completed"));
  }

  std::unique_ptr<File> open(std::string_view name, OpenMode mode = OpenMode::kCreateIfMissing) {
    auto f = fs().open(name, mode);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? std::move(*f) : nullptr;
  }

  // A file with `data`, synced, its name synced.
  void make_durable(std::string_view name, const std::string& data) {
    std::unique_ptr<File> f = open(name);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(truncate(*f, 0).ok());
    ASSERT_TRUE(append(*f, data).ok());
    ASSERT_TRUE(sync(*f).ok());
    ASSERT_TRUE(sync_dir().ok());
  }

  // The whole file as a reader sees it through a fresh handle; nullopt if it does not exist.
  std::optional<std::string> read_file(std::string_view name) {
    if (!fs().exists(name)) return std::nullopt;
    std::unique_ptr<File> f = open(name, OpenMode::kOpenExisting);
    if (f == nullptr) return std::nullopt;
    absl::StatusOr<std::string> r = read(*f, 0, f->size());
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r.value_or(""), disk().peek(name).value_or("<peek failed>"));
    return r.value_or("<read failed>");
  }

  // Crashes the process (the disk picks a random crash mode) and boots a fresh one. Every
  // handle the test holds must be closed first.
  void crash_and_restart() {
    ASSERT_TRUE(sim_->crash(0).ok());
    ASSERT_TRUE(sim_->start(0).ok());
    sim_->run_for(kNanosPerMicro);
  }

  // The sum of all named files' sizes; equals used_bytes() when no unnamed inode is alive.
  uint64_t named_bytes() {
    uint64_t total = 0;
    for (const std::string& name : fs().list()) total += disk().peek(name)->size();
    return total;
  }

  std::unique_ptr<Simulation> sim_;
};

enum class Outcome { kAllOld, kAllNew, kMixed };

// Checks the torn-write contract: after a crash, the file is as long as its durable or its
// current version, and each sector holds wholly the durable bytes or wholly the current bytes,
// where the durable version reads as zeros beyond its end.
Outcome check_sector_mix(const std::string& durable, const std::string& current,
                         const std::string& after, uint64_t sector) {
  EXPECT_TRUE(after.size() == durable.size() || after.size() == current.size())
      << "size after crash " << after.size() << " is neither durable " << durable.size()
      << " nor current " << current.size();
  const size_t n = std::max({durable.size(), current.size(), after.size()});
  std::string old_image = durable;
  old_image.resize(n, '\0');
  std::string new_image = current;
  new_image.resize(n, '\0');
  for (uint64_t begin = 0; begin < after.size(); begin += sector) {
    const uint64_t len = std::min<uint64_t>(sector, after.size() - begin);
    const std::string_view a = std::string_view(after).substr(begin, len);
    const bool is_old = a == std::string_view(old_image).substr(begin, len);
    const bool is_new = a == std::string_view(new_image).substr(begin, len);
    EXPECT_TRUE(is_old || is_new) << "sector " << begin / sector
                                  << " is neither wholly old nor wholly new";
  }
  if (after == durable) return Outcome::kAllOld;
  if (after == current) return Outcome::kAllNew;
  return Outcome::kMixed;
}

// ---------------------------------------------------------------------------------------------
// Durability of synced data.

TEST_F(SimDiskTest, SyncedDataSurvivesEveryCrashModeExactly) {
  const std::string data = pattern(5 * 512 + 77, kLower);
  for (CrashMode mode : kAllModes) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      SCOPED_TRACE(testing::Message() << "mode " << static_cast<int>(mode) << " seed " << seed);
      make(default_config(seed));
      make_durable("f", data);
      disk().crash(mode);
      EXPECT_EQ(read_file("f"), data);
      EXPECT_EQ(disk().used_bytes(), data.size());
    }
  }
}

// zero_fill is write_at with zeros: the same bytes, and the same crash rules (unsynced, its
// sectors may be lost, here wholly with kLoseAll).
TEST_F(SimDiskTest, ZeroFillIsAWriteOfZeros) {
  make(default_config(1));
  const std::string data = pattern(3 * 512, kLower);
  make_durable("f", data);
  std::unique_ptr<File> f = open("f", OpenMode::kOpenExisting);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(run_io([&](IoDone done) { f->zero_fill(512, 2048, std::move(done)); }).ok());
  EXPECT_EQ(read_file("f"), data.substr(0, 512) + std::string(2048, '\0'));
  EXPECT_EQ(disk().used_bytes(), 512u + 2048u);
  f.reset();
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), data);
}

// allocate grows the file with zeros and leaves the bytes it had; the growth is an unsynced
// write until a sync (lost here with kLoseAll), durable after it.
TEST_F(SimDiskTest, AllocateGrowsWithZerosKeepsBytesAndIsDurableOnlyAfterSync) {
  make(default_config(1));
  const std::string data = pattern(3 * 512, kLower);
  make_durable("f", data);
  std::unique_ptr<File> f = open("f", OpenMode::kOpenExisting);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(run_io([&](IoDone done) { f->allocate(0, 1024, std::move(done)); }).ok());
  EXPECT_EQ(read_file("f"), data) << "allocating space the file has changes nothing";
  ASSERT_TRUE(run_io([&](IoDone done) { f->allocate(1024, 4096, std::move(done)); }).ok());
  EXPECT_EQ(read_file("f"), data + std::string(1024 + 4096 - data.size(), '\0'));
  EXPECT_EQ(disk().used_bytes(), 1024u + 4096u);
  EXPECT_EQ(run_io([&](IoDone done) { f->allocate(UINT64_MAX, 2, std::move(done)); }).code(),
            absl::StatusCode::kInvalidArgument);
  f.reset();
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), data);

  f = open("f", OpenMode::kOpenExisting);
  ASSERT_TRUE(run_io([&](IoDone done) { f->allocate(0, 8192, std::move(done)); }).ok());
  ASSERT_TRUE(run_io([&](IoDone done) { f->sync(std::move(done)); }).ok());
  f.reset();
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), data + std::string(8192 - data.size(), '\0'));
}

TEST_F(SimDiskTest, SyncedDataSurvivesProcessCrashForEverySeed) {
  const std::string data = pattern(3000, kLower);
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    make_durable("f", data);
    // Later unsynced writes to another file must not disturb it.
    {
      std::unique_ptr<File> g = open("g");
      ASSERT_TRUE(append(*g, pattern(2000, kDigits)).ok());
    }
    crash_and_restart();
    EXPECT_EQ(read_file("f"), data);
  }
}

TEST_F(SimDiskTest, SyncMakesEarlierWritesAndTruncatesDurable) {
  make(default_config());
  make_durable("f", pattern(4000, kLower));
  std::string expected = pattern(4000, kLower);
  {
    std::unique_ptr<File> f = open("f");
    ASSERT_TRUE(write_at(*f, 100, pattern(700, kUpper)).ok());
    ASSERT_TRUE(truncate(*f, 3000).ok());
    ASSERT_TRUE(append(*f, pattern(10, kDigits)).ok());
    ASSERT_TRUE(sync(*f).ok());
  }
  expected.replace(100, 700, pattern(700, kUpper));
  expected.resize(3000);
  expected += pattern(10, kDigits);
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), expected);
}

// ---------------------------------------------------------------------------------------------
// Unsynced data at a crash.

class TornWrites : public SimDiskTest, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(TornWrites, UnsyncedWriteIsLostOrTornAtSectorBoundariesAfterCrash) {
  const uint64_t sector = GetParam();
  const std::string durable = pattern(5 * sector + 100, kLower);
  std::string current = durable;
  const uint64_t overwrite_at = sector / 2 + 44;
  const std::string overwrite = pattern(3 * sector, kUpper);
  current.replace(overwrite_at, overwrite.size(), overwrite);
  const std::string grown = pattern(4 * sector + 7, kDigits);
  current += grown;

  int outcomes[3] = {};
  uint64_t torn_crashes = 0;
  uint64_t lost_sectors = 0;
  uint64_t landed_sectors = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    SCOPED_TRACE(seed);
    SimConfig c = default_config(seed);
    c.disk.sector_size_bytes = static_cast<uint32_t>(sector);
    make(c);
    make_durable("f", durable);
    {
      std::unique_ptr<File> f = open("f");
      ASSERT_TRUE(write_at(*f, overwrite_at, overwrite).ok());
      ASSERT_TRUE(append(*f, grown).ok());
      ASSERT_EQ(f->size(), current.size());
    }
    ASSERT_EQ(disk().peek("f").value(), current);  // visible before the crash
    crash_and_restart();
    std::optional<std::string> after = read_file("f");
    ASSERT_TRUE(after.has_value()) << "a file with a synced name vanished";
    ++outcomes[static_cast<int>(check_sector_mix(durable, current, *after, sector))];
    EXPECT_EQ(disk().used_bytes(), after->size());
    torn_crashes += stats().torn_crashes;
    lost_sectors += stats().lost_unsynced_sectors;
    landed_sectors += stats().landed_unsynced_sectors;
  }
  EXPECT_GT(outcomes[static_cast<int>(Outcome::kAllOld)], 0) << "never lost everything";
  EXPECT_GT(outcomes[static_cast<int>(Outcome::kAllNew)], 0) << "never kept everything";
  EXPECT_GT(outcomes[static_cast<int>(Outcome::kMixed)], 0) << "never tore";
  EXPECT_GT(torn_crashes, 0u);
  EXPECT_GT(lost_sectors, 0u);
  EXPECT_GT(landed_sectors, 0u);
}

INSTANTIATE_TEST_SUITE_P(SectorSizes, TornWrites, ::testing::Values(512u, 4096u));

TEST_F(SimDiskTest, TornCrashModeKeepsWholeSectorsOnly) {
  const std::string durable = pattern(8 * 512, kLower);
  std::string current = durable;
  // Many small writes, each inside a sector: a torn crash still keeps or loses whole sectors.
  for (uint64_t s = 0; s < 8; ++s) current.replace(s * 512 + 10 * s, 20, pattern(20, kUpper, s));
  int mixed = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    make_durable("f", durable);
    {
      std::unique_ptr<File> f = open("f");
      for (uint64_t s = 0; s < 8; ++s) {
        ASSERT_TRUE(write_at(*f, s * 512 + 10 * s, pattern(20, kUpper, s)).ok());
      }
    }
    disk().crash(CrashMode::kTorn);
    const std::string after = read_file("f").value_or("");
    if (check_sector_mix(durable, current, after, 512) == Outcome::kMixed) ++mixed;
  }
  EXPECT_GT(mixed, 0);
}

TEST_F(SimDiskTest, LoseAllCrashLosesEveryUnsyncedChange) {
  make(default_config());
  const std::string a = pattern(3000, kLower);
  const std::string b = pattern(2000, kLower, 3);
  const std::string d = pattern(100, kLower, 5);
  make_durable("a", a);
  make_durable("b", b);
  make_durable("d", d);
  make_durable("r", "renamed");
  {
    std::unique_ptr<File> fa = open("a");
    ASSERT_TRUE(write_at(*fa, 10, pattern(1000, kUpper)).ok());
    ASSERT_TRUE(append(*fa, pattern(5000, kDigits)).ok());
    std::unique_ptr<File> fb = open("b");
    ASSERT_TRUE(truncate(*fb, 10).ok());
    std::unique_ptr<File> fc = open("c");
    ASSERT_TRUE(append(*fc, "new file").ok());
    ASSERT_TRUE(sync(*fc).ok());  // data synced, name not
  }
  ASSERT_TRUE(remove("d").ok());
  ASSERT_TRUE(rename("r", "r2").ok());
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("a"), a);
  EXPECT_EQ(read_file("b"), b);
  EXPECT_FALSE(fs().exists("c"));
  EXPECT_EQ(read_file("d"), d);
  EXPECT_EQ(read_file("r"), "renamed");
  EXPECT_FALSE(fs().exists("r2"));
  EXPECT_THAT(fs().list(), ElementsAre("a", "b", "d", "r"));
  EXPECT_EQ(disk().used_bytes(), a.size() + b.size() + d.size() + 7);
  EXPECT_EQ(stats().landed_unsynced_sectors, 0u);
  EXPECT_GT(stats().lost_unsynced_sectors, 0u);
  EXPECT_EQ(stats().lost_dir_ops, 3u);  // create c, remove d, rename r
}

TEST_F(SimDiskTest, KeepAllCrashKeepsEveryUnsyncedChange) {
  make(default_config());
  make_durable("a", pattern(3000, kLower));
  make_durable("d", "doomed");
  std::string a = pattern(3000, kLower);
  {
    std::unique_ptr<File> fa = open("a");
    ASSERT_TRUE(write_at(*fa, 10, pattern(1000, kUpper)).ok());
    ASSERT_TRUE(append(*fa, pattern(5000, kDigits)).ok());
    std::unique_ptr<File> fc = open("c");
    ASSERT_TRUE(append(*fc, "new file").ok());
  }
  a.replace(10, 1000, pattern(1000, kUpper));
  a += pattern(5000, kDigits);
  ASSERT_TRUE(remove("d").ok());
  disk().crash(CrashMode::kKeepAll);
  EXPECT_EQ(read_file("a"), a);
  EXPECT_EQ(read_file("c"), "new file");
  EXPECT_FALSE(fs().exists("d"));
  EXPECT_EQ(stats().lost_unsynced_sectors, 0u);
  EXPECT_EQ(stats().lost_dir_ops, 0u);
}

TEST_F(SimDiskTest, UnsyncedShrinkIsUndoneByLoseAllCrash) {
  make(default_config());
  const std::string data = pattern(1500, kLower);
  make_durable("f", data);
  {
    std::unique_ptr<File> f = open("f");
    ASSERT_TRUE(truncate(*f, 700).ok());
    ASSERT_EQ(f->size(), 700u);
    EXPECT_EQ(read(*f, 0, 2000).value(), data.substr(0, 700));
  }
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), data);
}

TEST_F(SimDiskTest, WithoutTornWritesACrashAlwaysLosesUnsyncedData) {
  const std::string durable = pattern(2000, kLower);
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    SimConfig c = default_config(seed);
    c.disk.torn_writes = false;
    make(c);
    make_durable("f", durable);
    {
      std::unique_ptr<File> f = open("f");
      ASSERT_TRUE(write_at(*f, 0, pattern(1000, kUpper)).ok());
      ASSERT_TRUE(append(*f, pattern(3000, kDigits)).ok());
      std::unique_ptr<File> g = open("g");  // name never synced
    }
    EXPECT_EQ(disk().random_crash_mode(), CrashMode::kLoseAll);
    crash_and_restart();
    EXPECT_EQ(read_file("f"), durable);
    EXPECT_FALSE(fs().exists("g"));
    EXPECT_EQ(stats().landed_unsynced_sectors, 0u);
    EXPECT_EQ(stats().torn_crashes, 0u);
  }
}

TEST_F(SimDiskTest, PendingOperationsOfACrashedProcessNeverExecuteNorComplete) {
  make(default_config());
  make_durable("f", "durable");
  int completions = 0;
  {
    std::unique_ptr<File> f = open("f");
    f->append("lost", [&](absl::Status) { ++completions; });
    f->sync([&](absl::Status) { ++completions; });
    fs().sync_dir([&](absl::Status) { ++completions; });
  }
  crash_and_restart();
  sim_->run_for(kNanosPerSecond);
  EXPECT_EQ(completions, 0);
  EXPECT_EQ(read_file("f"), "durable");
}

// ---------------------------------------------------------------------------------------------
// Directory durability.

TEST_F(SimDiskTest, CreatedFileWithoutSyncDirMayVanishAfterCrash) {
  int vanished = 0;
  int survived = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    {
      std::unique_ptr<File> f = open("new");
      ASSERT_TRUE(append(*f, "payload").ok());
      ASSERT_TRUE(sync(*f).ok());
    }
    EXPECT_TRUE(fs().exists("new"));
    crash_and_restart();
    std::optional<std::string> after = read_file("new");
    if (after.has_value()) {
      ++survived;
      EXPECT_EQ(*after, "payload");
    } else {
      ++vanished;
      EXPECT_EQ(disk().used_bytes(), 0u) << "the vanished file's space was not reclaimed";
    }
  }
  EXPECT_GT(vanished, 0);
  EXPECT_GT(survived, 0);
}

TEST_F(SimDiskTest, CreatedFileSurvivesCrashAfterSyncDir) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    {
      std::unique_ptr<File> f = open("new");
      ASSERT_TRUE(append(*f, "payload").ok());
      ASSERT_TRUE(sync(*f).ok());
      ASSERT_TRUE(sync_dir().ok());
    }
    crash_and_restart();
    EXPECT_EQ(read_file("new"), "payload");
  }
}

TEST_F(SimDiskTest, RenameIsAtomicAcrossCrash) {
  const std::string old_content = pattern(3000, kLower);
  const std::string new_content = pattern(2500, kUpper);
  int saw_old = 0;
  int saw_new = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    make_durable("target", old_content);
    {
      std::unique_ptr<File> tmp = open("target.tmp");
      ASSERT_TRUE(append(*tmp, new_content).ok());
      ASSERT_TRUE(sync(*tmp).ok());
    }
    ASSERT_TRUE(rename("target.tmp", "target").ok());
    EXPECT_EQ(read_file("target"), new_content);
    EXPECT_FALSE(fs().exists("target.tmp"));
    crash_and_restart();
    std::optional<std::string> after = read_file("target");
    ASSERT_TRUE(after.has_value()) << "the target vanished";
    if (*after == old_content) {
      ++saw_old;
      // The temporary may or may not have survived, but if it did it is whole.
      if (fs().exists("target.tmp")) {
        EXPECT_EQ(read_file("target.tmp"), new_content);
      }
    } else {
      ++saw_new;
      EXPECT_EQ(*after, new_content) << "rename left a mix of old and new content";
      EXPECT_FALSE(fs().exists("target.tmp"));
    }
  }
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);
}

TEST_F(SimDiskTest, RenameFollowedBySyncDirSurvivesEveryCrash) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    make_durable("target", "old");
    {
      std::unique_ptr<File> tmp = open("tmp");
      ASSERT_TRUE(append(*tmp, "new").ok());
      ASSERT_TRUE(sync(*tmp).ok());
    }
    ASSERT_TRUE(rename("tmp", "target").ok());
    ASSERT_TRUE(sync_dir().ok());
    crash_and_restart();
    EXPECT_EQ(read_file("target"), "new");
    EXPECT_THAT(fs().list(), ElementsAre("target"));
    EXPECT_EQ(disk().used_bytes(), 3u);
  }
}

TEST_F(SimDiskTest, TornDirectoryCrashKeepsAPrefixOfChanges) {
  // Journal: create a, create b, create c (in that order). A prefix survives: never c without b.
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    for (const char* name : {"a", "b", "c"}) {
      std::unique_ptr<File> f = open(name);
    }
    disk().crash(CrashMode::kTorn);
    const bool a = fs().exists("a");
    const bool b = fs().exists("b");
    const bool c = fs().exists("c");
    EXPECT_TRUE(!c || b);
    EXPECT_TRUE(!b || a);
  }
}

TEST_F(SimDiskTest, RenameAndRemoveOfMissingFileFailWithNotFound) {
  make(default_config());
  EXPECT_EQ(rename("nope", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(remove("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs().open("nope", OpenMode::kOpenExisting).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs().exists("nope"));
  EXPECT_FALSE(fs().exists("x"));
}

TEST_F(SimDiskTest, ListIsSortedAndReflectsCreateRenameRemove) {
  make(default_config());
  for (const char* name : {"zeta", "alpha", "mid"}) open(name);
  EXPECT_THAT(fs().list(), ElementsAre("alpha", "mid", "zeta"));
  ASSERT_TRUE(rename("zeta", "beta").ok());
  ASSERT_TRUE(remove("mid").ok());
  EXPECT_THAT(fs().list(), ElementsAre("alpha", "beta"));
  open("be");
  EXPECT_THAT(fs().list("be"), ElementsAre("be", "beta"));
  EXPECT_THAT(fs().list("bet"), ElementsAre("beta"));
  EXPECT_THAT(fs().list("c"), IsEmpty());
}

TEST_F(SimDiskTest, RemoveKeepsOpenHandlesWorking) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(append(*f, "hello").ok());
  ASSERT_TRUE(sync_dir().ok());
  ASSERT_TRUE(remove("f").ok());
  EXPECT_FALSE(fs().exists("f"));
  EXPECT_THAT(fs().list(), IsEmpty());
  ASSERT_TRUE(append(*f, " world").ok());
  EXPECT_EQ(f->size(), 11u);
  EXPECT_EQ(read(*f, 0, 100).value(), "hello world");
  ASSERT_TRUE(sync(*f).ok());
  ASSERT_TRUE(truncate(*f, 5).ok());
  EXPECT_EQ(read(*f, 0, 100).value(), "hello");
  // A new file under the old name is a different file.
  std::unique_ptr<File> g = open("f");
  EXPECT_EQ(g->size(), 0u);
  ASSERT_TRUE(append(*g, "other").ok());
  EXPECT_EQ(read(*f, 0, 100).value(), "hello");
}

// ---------------------------------------------------------------------------------------------
// Media faults.

TEST_F(SimDiskTest, LatentErrorFailsReadsUntilTheSectorIsRewrittenWholly) {
  make(default_config());
  const std::string data = pattern(4 * 512, kLower);
  make_durable("f", data);
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(disk().add_latent_error("f", 600).ok());  // sector 1
  EXPECT_EQ(stats().latent_errors_injected, 1u);
  EXPECT_EQ(read(*f, 0, 512).value(), data.substr(0, 512));
  EXPECT_EQ(read(*f, 1024, 1024).value(), data.substr(1024));
  for (auto [offset, length] :
       {std::pair<uint64_t, uint64_t>{512, 512}, {1000, 10}, {0, 2048}, {511, 2}, {1023, 1}}) {
    SCOPED_TRACE(offset);
    EXPECT_EQ(read(*f, offset, length).status().code(), absl::StatusCode::kDataLoss);
  }
  const uint64_t read_errors = stats().read_errors;
  EXPECT_EQ(read_errors, 5u);
  // A partial rewrite of the sector does not cure it.
  ASSERT_TRUE(write_at(*f, 600, "partial").ok());
  EXPECT_EQ(read(*f, 512, 512).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(write_at(*f, 512, pattern(511, kUpper)).ok());
  EXPECT_EQ(read(*f, 512, 512).status().code(), absl::StatusCode::kDataLoss);
  // A write covering the whole sector (as part of a larger one) does.
  const std::string fresh = pattern(700, kDigits);
  ASSERT_TRUE(write_at(*f, 400, fresh).ok());
  std::string expected = data;
  expected.replace(600, 7, "partial");
  expected.replace(512, 511, pattern(511, kUpper));
  expected.replace(400, 700, fresh);
  EXPECT_EQ(read(*f, 0, 4096).value(), expected);
}

// BUG (sim/sim_disk.cc), or at least a model gap: SimDisk::truncate() leaves bad_sectors
// untouched. A latent error in a sector that truncate() cut off the file survives, and data
// later written into that region (without covering the whole sector) reads back as EIO,
// although the file never held the bad bytes again. Shrinking past a sector should forget its
// latent error (the file system frees the block).
TEST_F(SimDiskTest, TruncatingASectorAwayClearsItsLatentError) {
  make(default_config());
  make_durable("f", pattern(1024, kLower));
  ASSERT_TRUE(disk().add_latent_error("f", 600).ok());  // sector 1
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(truncate(*f, 0).ok());
  ASSERT_TRUE(append(*f, pattern(700, kUpper)).ok());
  absl::StatusOr<std::string> r = read(*f, 0, 700);
  EXPECT_TRUE(r.ok()) << r.status();  // fails: DATA_LOSS at offset 512
  EXPECT_EQ(r.value_or(""), pattern(700, kUpper));
}

TEST_F(SimDiskTest, LatentErrorOutsideTheFileIsRejected) {
  make(default_config());
  make_durable("f", "short");
  EXPECT_EQ(disk().add_latent_error("f", 5).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(disk().add_latent_error("missing", 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stats().latent_errors_injected, 0u);
}

TEST_F(SimDiskTest, InjectLatentErrorHitsANamedNonEmptyFile) {
  make(default_config());
  EXPECT_FALSE(disk().inject_latent_error()) << "no file holds any byte";
  make_durable("f", pattern(512, kLower));
  ASSERT_TRUE(disk().inject_latent_error());
  std::unique_ptr<File> f = open("f");
  EXPECT_EQ(read(*f, 0, 512).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SimDiskTest, FlipBitChangesExactlyOneBit) {
  make(default_config());
  const std::string data = pattern(2000, kLower);
  make_durable("f", data);
  ASSERT_TRUE(disk().flip_bit("f", 1234, 3).ok());
  const std::string after = disk().peek("f").value();
  ASSERT_EQ(after.size(), data.size());
  int differing_bits = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    differing_bits += std::popcount(static_cast<uint8_t>(data[i] ^ after[i]));
  }
  EXPECT_EQ(differing_bits, 1);
  EXPECT_EQ(static_cast<uint8_t>(data[1234] ^ after[1234]), 0x08);
  EXPECT_EQ(stats().bit_flips, 1u);
  EXPECT_EQ(disk().corruptions(), 1u);
  // Reads see it, and so does the durable image.
  EXPECT_EQ(read_file("f"), after);
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), after);
  // Flipping the same bit again restores the data.
  ASSERT_TRUE(disk().flip_bit("f", 1234, 3).ok());
  EXPECT_EQ(read_file("f"), data);
  EXPECT_EQ(stats().bit_flips, 2u);
}

TEST_F(SimDiskTest, FlipBitInADirtySectorAlsoRotsItsDurableCopy) {
  make(default_config());
  const std::string data = pattern(1024, kLower);
  make_durable("f", data);
  {
    std::unique_ptr<File> f = open("f");
    ASSERT_TRUE(write_at(*f, 0, pattern(100, kUpper)).ok());  // sector 0 dirty
  }
  ASSERT_TRUE(disk().flip_bit("f", 300, 0).ok());
  disk().crash(CrashMode::kLoseAll);
  std::string expected = data;
  expected[300] ^= 0x01;
  EXPECT_EQ(read_file("f"), expected);
}

TEST_F(SimDiskTest, FlipBitOutsideTheFileIsRejected) {
  make(default_config());
  make_durable("f", "abc");
  EXPECT_EQ(disk().flip_bit("f", 3, 0).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(disk().flip_bit("missing", 0, 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stats().bit_flips, 0u);
  EXPECT_EQ(read_file("f"), "abc");
  ASSERT_TRUE(disk().flip_random_bit());
  int differing_bits = 0;
  const std::string after = read_file("f").value();
  for (size_t i = 0; i < 3; ++i)
    differing_bits += std::popcount(static_cast<uint8_t>("abc"[i] ^ after[i]));
  EXPECT_EQ(differing_bits, 1);
}

TEST_F(SimDiskTest, ReadErrorProbabilityOneFailsEveryReadWithDataLoss) {
  make(default_config());
  make_durable("f", pattern(1000, kLower));
  disk().config().read_error_probability = 1.0;
  std::unique_ptr<File> f = open("f");
  for (uint64_t offset : {0, 100, 999}) {
    EXPECT_EQ(read(*f, offset, 10).status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(stats().read_errors, 3u);
  // Transient: the data itself is fine.
  disk().config().read_error_probability = 0.0;
  EXPECT_EQ(read(*f, 0, 1000).value(), pattern(1000, kLower));
}

// ---------------------------------------------------------------------------------------------
// Space.

TEST_F(SimDiskTest, WritesBeyondCapacityFailAndLeaveDurableDataUntouched) {
  SimConfig c = default_config();
  c.disk.capacity_bytes = 4096;
  make(c);
  const std::string data = pattern(3000, kLower);
  make_durable("f", data);
  std::unique_ptr<File> f = open("f");
  absl::Status s = append(*f, pattern(2000, kUpper));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("ENOSPC"));
  EXPECT_EQ(write_at(*f, 5000, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(truncate(*f, 5000).code(), absl::StatusCode::kResourceExhausted);
  std::unique_ptr<File> g = open("g");
  EXPECT_EQ(append(*g, pattern(1097, kDigits)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(stats().enospc_errors, 4u);
  EXPECT_EQ(f->size(), data.size());
  EXPECT_EQ(g->size(), 0u);
  EXPECT_EQ(read(*f, 0, 10000).value(), data);
  EXPECT_EQ(disk().used_bytes(), 3000u);
  // Overwrites need no space; filling to exactly the capacity succeeds.
  EXPECT_TRUE(write_at(*f, 0, pattern(3000, kUpper)).ok());
  EXPECT_TRUE(append(*g, pattern(1096, kDigits)).ok());
  EXPECT_EQ(disk().used_bytes(), 4096u);
  EXPECT_EQ(append(*g, "x").code(), absl::StatusCode::kResourceExhausted);
  // Nothing durable was harmed by the failures.
  f.reset();
  g.reset();
  disk().crash(CrashMode::kLoseAll);
  EXPECT_EQ(read_file("f"), data);
}

TEST_F(SimDiskTest, TruncatingFreesSpaceForLaterWrites) {
  SimConfig c = default_config();
  c.disk.capacity_bytes = 4096;
  make(c);
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(append(*f, pattern(4096, kLower)).ok());
  ASSERT_EQ(append(*f, "x").code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(truncate(*f, 1000).ok());
  EXPECT_EQ(disk().used_bytes(), 1000u);
  EXPECT_TRUE(append(*f, pattern(3096, kUpper)).ok());
  EXPECT_EQ(f->size(), 4096u);
}

// BUG (sim/sim_disk.cc): sync_dir() does not run collect_garbage(). A removed file's inode is
// kept alive by durable_names_ / unsynced_dir_ops_ (so that a crash can bring it back); once
// sync_dir() makes the removal durable nothing refers to it, but its bytes stay counted in
// used_bytes_ until some unrelated close/rename/remove/crash happens to collect it. Until then
// the freed space is unusable: writes fail with ENOSPC.
TEST_F(SimDiskTest, RemovedFilesSpaceIsFreeOnceTheRemovalIsSynced) {
  SimConfig c = default_config();
  c.disk.capacity_bytes = 4096;
  for (bool name_was_durable : {true, false}) {
    SCOPED_TRACE(name_was_durable);
    make(c);
    if (name_was_durable) {
      make_durable("big", pattern(4096, kLower));
    } else {
      std::unique_ptr<File> big = open("big");
      ASSERT_TRUE(append(*big, pattern(4096, kLower)).ok());
    }
    std::unique_ptr<File> small = open("small");
    ASSERT_EQ(append(*small, "x").code(), absl::StatusCode::kResourceExhausted);
    ASSERT_TRUE(remove("big").ok());
    ASSERT_TRUE(sync_dir().ok());
    EXPECT_EQ(disk().used_bytes(), 0u);     // fails: still 4096
    EXPECT_TRUE(append(*small, "x").ok());  // fails: ENOSPC
  }
}

TEST_F(SimDiskTest, EnospcProbabilityOneFailsGrowingWritesOnly) {
  make(default_config());
  make_durable("f", pattern(1000, kLower));
  disk().config().enospc_probability = 1.0;
  std::unique_ptr<File> f = open("f");
  EXPECT_EQ(append(*f, "more").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(write_at(*f, 998, "abcd").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(write_at(*f, 5000, "z").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(stats().enospc_errors, 3u);
  EXPECT_EQ(f->size(), 1000u);
  EXPECT_TRUE(write_at(*f, 0, "OVERWRITE").ok());
  EXPECT_TRUE(write_at(*f, 996, "TAIL").ok());
  std::string expected = pattern(1000, kLower);
  expected.replace(0, 9, "OVERWRITE");
  expected.replace(996, 4, "TAIL");
  EXPECT_EQ(read(*f, 0, 2000).value(), expected);
}

// ---------------------------------------------------------------------------------------------
// Ordering and API edges.

TEST_F(SimDiskTest, OperationsCompleteInSubmissionOrder) {
  SimConfig c = default_config();
  c.disk.write_bytes_per_second = 1000 * 1000;  // a big write takes a long time
  c.disk.slow_sync_probability = 0.5;
  make(c);
  std::unique_ptr<File> f = open("f");
  std::unique_ptr<File> g = open("g");
  std::vector<int> order;
  std::vector<std::string> reads;
  auto record = [&](int i) {
    return [&order, i](absl::Status s) {
      EXPECT_TRUE(s.ok()) << i << ": " << s;
      order.push_back(i);
    };
  };
  f->append(pattern(100000, kLower), record(0));  // 100ms at 1MB/s
  g->append("g", record(1));                      // 5us, but behind the big write
  f->sync(record(2));
  g->read_at(0, 10, [&](absl::StatusOr<std::string> r) {
    order.push_back(3);
    reads.push_back(r.value_or("error"));
  });
  fs().rename("g", "h", record(4));
  g->write_at(0, "G", record(5));
  fs().sync_dir(record(6));
  g->sync(record(7));
  f->truncate(10, record(8));
  f->read_at(0, 100, [&](absl::StatusOr<std::string> r) {
    order.push_back(9);
    reads.push_back(r.value_or("error"));
  });
  fs().remove("h", record(10));
  g->append("2", record(11));
  EXPECT_THAT(order, IsEmpty()) << "a completion ran inside its submitting call";
  while (sim_->step()) {
  }
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
  EXPECT_THAT(reads, ElementsAre("g", pattern(10, kLower)));
  EXPECT_GE(sim_->now_ns(), 100 * kNanosPerMilli);
}

TEST_F(SimDiskTest, CompletionsAreHeldWhileTheProcessIsPaused) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  bool done = false;
  ASSERT_TRUE(sim_->pause(0, 10 * kNanosPerMilli).ok());
  f->append("x", [&](absl::Status s) { done = true; });
  sim_->run_for(5 * kNanosPerMilli);
  EXPECT_FALSE(done);
  sim_->run_for(10 * kNanosPerMilli);
  EXPECT_TRUE(done);
}

TEST_F(SimDiskTest, OpenRejectsInvalidNames) {
  make(default_config());
  for (const std::string& bad :
       {std::string(), std::string("a/b"), std::string("/"), std::string(300, 'x'),
        std::string(256, 'y'), std::string("a\0b", 3), std::string("."), std::string("..")}) {
    SCOPED_TRACE(bad.size());
    for (OpenMode mode : {OpenMode::kCreateIfMissing, OpenMode::kOpenExisting}) {
      EXPECT_EQ(fs().open(bad, mode).status().code(), absl::StatusCode::kInvalidArgument);
    }
    EXPECT_EQ(rename(bad, "ok").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(remove(bad).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(fs().list(), IsEmpty());
  open("ok");
  EXPECT_EQ(rename("ok", "a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs().exists("ok"));
  // The longest valid name.
  EXPECT_TRUE(fs().open(std::string(255, 'z'), OpenMode::kCreateIfMissing).ok());
}

TEST_F(SimDiskTest, ReadPastEndOfFileReturnsEmptyOrShortData) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  EXPECT_EQ(read(*f, 0, 10).value(), "");
  const std::string data = pattern(100, kLower);
  ASSERT_TRUE(append(*f, data).ok());
  EXPECT_EQ(read(*f, 100, 10).value(), "");
  EXPECT_EQ(read(*f, 1000000, 10).value(), "");
  EXPECT_EQ(read(*f, UINT64_MAX, UINT64_MAX).value(), "");
  EXPECT_EQ(read(*f, 90, 100).value(), data.substr(90));
  EXPECT_EQ(read(*f, 10, UINT64_MAX).value(), data.substr(10));
  EXPECT_EQ(read(*f, 0, 0).value(), "");
}

TEST_F(SimDiskTest, WriteAtBeyondEndFillsTheGapWithZeros) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(append(*f, "head").ok());
  ASSERT_TRUE(write_at(*f, 1000, "xyz").ok());
  EXPECT_EQ(f->size(), 1003u);
  std::string expected = "head";
  expected.resize(1000, '\0');
  expected += "xyz";
  EXPECT_EQ(read(*f, 0, 2000).value(), expected);
  EXPECT_EQ(disk().used_bytes(), 1003u);
  // Truncate upward also fills with zeros.
  ASSERT_TRUE(truncate(*f, 1010).ok());
  expected.resize(1010, '\0');
  EXPECT_EQ(read(*f, 0, 2000).value(), expected);
}

TEST_F(SimDiskTest, AppendWritesAtTheSizeWhenItExecutes) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  std::unique_ptr<File> f2 = open("f");  // a second handle on the same file
  int done = 0;
  f->append("aaa", [&](absl::Status) { ++done; });
  f2->append("bbb", [&](absl::Status) { ++done; });
  f->write_at(10, "c", [&](absl::Status) { ++done; });
  f2->append("d", [&](absl::Status) { ++done; });
  while (sim_->step()) {
  }
  EXPECT_EQ(done, 4);
  EXPECT_EQ(disk().peek("f").value(), std::string("aaabbb\0\0\0\0cd", 12));
  EXPECT_EQ(f2->size(), 12u);
}

// BUG (sim/sim_disk.cc): SimFile::write_at passes its offset straight to SimDisk::write, which
// treats UINT64_MAX as its internal kAppendOffset sentinel. write_at(UINT64_MAX, data) therefore
// succeeds and appends instead of failing with kInvalidArgument (the offset + length overflows,
// exactly as write_at(UINT64_MAX - 1, "xy") does and is rejected).
TEST_F(SimDiskTest, WriteAtMaximumOffsetIsInvalidArgumentNotAnAppend) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(append(*f, "data").ok());
  const absl::Status s = write_at(*f, UINT64_MAX, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);  // bug: OK, and "x" appended
  EXPECT_EQ(read(*f, 0, 100).value(), "data");
}

TEST_F(SimDiskTest, WriteWhoseEndOverflowsIsInvalidArgument) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  EXPECT_EQ(write_at(*f, UINT64_MAX - 1, "xy").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f->size(), 0u);
}

TEST_F(SimDiskTest, OpenExistingSeesTheSameFile) {
  make(default_config());
  std::unique_ptr<File> f = open("f");
  ASSERT_TRUE(append(*f, "shared").ok());
  std::unique_ptr<File> g = open("f", OpenMode::kOpenExisting);
  EXPECT_EQ(g->name(), "f");
  EXPECT_EQ(g->size(), 6u);
  EXPECT_EQ(read(*g, 0, 6).value(), "shared");
}

TEST_F(SimDiskTest, WipeErasesEverything) {
  make(default_config());
  make_durable("a", "aaa");
  make_durable("b", "bbb");
  ASSERT_TRUE(disk().flip_bit("a", 0, 0).ok());
  ASSERT_TRUE(sim_->crash(0).ok());
  ASSERT_TRUE(sim_->wipe(0).ok());
  ASSERT_TRUE(sim_->start(0).ok());
  sim_->run_for(kNanosPerMicro);
  EXPECT_THAT(fs().list(), IsEmpty());
  EXPECT_EQ(disk().used_bytes(), 0u);
  EXPECT_EQ(disk().corruptions(), 0u);
  EXPECT_EQ(stats().wipes, 1u);
}

TEST_F(SimDiskTest, UsedBytesMatchesNamedFilesAfterEveryCrash) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    make(default_config(seed));
    make_durable("a", pattern(3000, kLower));
    {
      std::unique_ptr<File> a = open("a");
      ASSERT_TRUE(truncate(*a, 1000).ok());
      ASSERT_TRUE(append(*a, pattern(5000, kUpper)).ok());
      std::unique_ptr<File> b = open("b");
      ASSERT_TRUE(append(*b, pattern(700, kDigits)).ok());
    }
    ASSERT_TRUE(rename("b", "c").ok());
    crash_and_restart();
    EXPECT_EQ(disk().used_bytes(), named_bytes());
  }
}

TEST_F(SimDiskTest, SameSeedGivesTheSameCrashOutcome) {
  auto run = [&](uint64_t seed) {
    make(default_config(seed));
    make_durable("f", pattern(8 * 512, kLower));
    {
      std::unique_ptr<File> f = open("f");
      EXPECT_TRUE(write_at(*f, 0, pattern(8 * 512 + 300, kUpper)).ok());
    }
    crash_and_restart();
    return std::pair{read_file("f").value_or(""), sim_->trace().digest()};
  };
  for (uint64_t seed : {3, 4, 5}) EXPECT_EQ(run(seed), run(seed));
}

}  // namespace
}  // namespace walle::sim
