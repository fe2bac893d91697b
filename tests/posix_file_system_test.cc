#include "disk/posix_file_system.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "disk/blocking_completion_queue.h"
#include "disk/errno_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walle::disk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Only a bound on a hung test: every wait below ends as soon as its completion runs.
constexpr std::chrono::seconds kTimeout(60);

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/walle-posix-fs-test.XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class PosixFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty()) << "mkdtemp failed";
    dir_ = tmp_.path() + "/data";  // Open() creates it
    auto fs = PosixFileSystem::Open(dir_, queue_);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
  }

  void TearDown() override {
    fs_.reset();
    queue_.run_until_idle();
  }

  // Runs completions on this thread until `done()`.
  void run_until(absl::FunctionRef<bool()> done) {
    while (!done()) {
      if (!queue_.wait_and_run_one_for(kTimeout)) {
        ADD_FAILURE() << "no completion within " << kTimeout.count() << "s";
        return;
      }
    }
  }

  // Submits one operation and waits for its completion.
  absl::Status await(absl::AnyInvocable<void(IoDone)> submit) {
    std::optional<absl::Status> result;
    submit([&result](absl::Status s) { result = std::move(s); });
    run_until([&] { return result.has_value(); });
    return result.value_or(absl::DeadlineExceededError("no completion"));
  }

  absl::StatusOr<std::string> read(File& file, uint64_t offset, uint64_t length) {
    std::optional<absl::StatusOr<std::string>> result;
    file.read_at(offset, length,
                 [&result](absl::StatusOr<std::string> r) { result = std::move(r); });
    run_until([&] { return result.has_value(); });
    return result.value_or(absl::DeadlineExceededError("no completion"));
  }

  absl::Status append(File& file, std::string data) {
    return await([&](IoDone done) { file.append(std::move(data), std::move(done)); });
  }
  absl::Status write_at(File& file, uint64_t offset, std::string data) {
    return await([&](IoDone done) { file.write_at(offset, std::move(data), std::move(done)); });
  }
  absl::Status sync(File& file) {
    return await([&](IoDone done) { file.sync(std::move(done)); });
  }
  absl::Status truncate(File& file, uint64_t size) {
    return await([&](IoDone done) { file.truncate(size, std::move(done)); });
  }
  absl::Status rename(std::string_view from, std::string_view to) {
    return await([&](IoDone done) { fs_->rename(from, to, std::move(done)); });
  }
  absl::Status remove(std::string_view name) {
    return await([&](IoDone done) { fs_->remove(name, std::move(done)); });
  }
  absl::Status sync_dir() {
    return await([&](IoDone done) { fs_->sync_dir(std::move(done)); });
  }

  std::unique_ptr<File> open(std::string_view name, OpenMode mode = OpenMode::kCreateIfMissing) {
    auto file = fs_->open(name, mode);
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(*file) : nullptr;
  }

  // A file named `name` holding `content`.
  std::unique_ptr<File> create(std::string_view name, std::string content) {
    auto file = open(name);
    if (file != nullptr) {
      EXPECT_TRUE(append(*file, std::move(content)).ok());
    }
    return file;
  }

  TempDir tmp_;
  std::string dir_;
  BlockingCompletionQueue queue_;  // outlives fs_
  std::unique_ptr<PosixFileSystem> fs_;
};

TEST_F(PosixFileSystemTest, AppendReadRoundTrip) {
  auto file = open("log");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->name(), "log");
  EXPECT_EQ(file->size(), 0u);
  ASSERT_TRUE(append(*file, "hello").ok());
  EXPECT_EQ(file->size(), 5u);
  ASSERT_TRUE(append(*file, " world").ok());
  EXPECT_EQ(file->size(), 11u);
  EXPECT_EQ(read(*file, 0, 100).value(), "hello world");
  EXPECT_EQ(read(*file, 6, 5).value(), "world");

  // The bytes are in the file on disk, and a new handle sees them.
  file.reset();
  auto again = open("log", OpenMode::kOpenExisting);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->size(), 11u);
  EXPECT_EQ(read(*again, 0, 11).value(), "hello world");
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/log"), 11u);
}

TEST_F(PosixFileSystemTest, SizeChangesWhenTheWriteCompletesNotWhenItExecutes) {
  auto file = open("log");
  ASSERT_NE(file, nullptr);
  bool appended = false;
  file->append("abc", [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(file->size(), 3u);  // already updated when the callback runs
    appended = true;
  });
  // Whether or not the I/O thread has executed the append, nothing has completed until this
  // thread runs the completion.
  EXPECT_EQ(file->size(), 0u);
  queue_.wait_and_run_one();
  EXPECT_TRUE(appended);
  EXPECT_EQ(file->size(), 3u);
}

TEST_F(PosixFileSystemTest, AppendsQueuedBackToBackLandInOrder) {
  auto file = open("log");
  ASSERT_NE(file, nullptr);
  int ok = 0;
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string entry = absl::StrCat("entry-", i, ";");
    expected += entry;
    file->append(entry, [&ok](absl::Status s) { ok += s.ok(); });
  }
  run_until([&] { return ok == 100; });
  EXPECT_EQ(file->size(), expected.size());
  EXPECT_EQ(read(*file, 0, expected.size()).value(), expected);
}

TEST_F(PosixFileSystemTest, WriteAtPastEndZeroFills) {
  auto file = create("f", "ab");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(write_at(*file, 10, "xy").ok());
  EXPECT_EQ(file->size(), 12u);
  EXPECT_EQ(read(*file, 0, 12).value(), std::string("ab") + std::string(8, '\0') + "xy");
  // Overwrite inside the file, then append at the new end.
  ASSERT_TRUE(write_at(*file, 1, "B").ok());
  ASSERT_TRUE(append(*file, "!").ok());
  EXPECT_EQ(file->size(), 13u);
  EXPECT_EQ(read(*file, 0, 100).value(), std::string("aB") + std::string(8, '\0') + "xy!");
  // An empty write changes nothing, even past the end.
  ASSERT_TRUE(write_at(*file, 100, "").ok());
  EXPECT_EQ(file->size(), 13u);
}

// zero_fill writes zeros as write_at would: over data, and past the end (more than one of its
// internal chunks, so the chunking is exercised).
TEST_F(PosixFileSystemTest, ZeroFillOverwritesAndGrowsWithZeros) {
  auto file = create("f", "abcdef");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(await([&](IoDone done) { file->zero_fill(2, 2, std::move(done)); }).ok());
  EXPECT_EQ(read(*file, 0, 6).value(), std::string("ab") + std::string(2, '\0') + "ef");
  const uint64_t big = (3u << 20) + 5;  // past 1 MiB chunks
  ASSERT_TRUE(await([&](IoDone done) { file->zero_fill(4, big, std::move(done)); }).ok());
  EXPECT_EQ(file->size(), 4 + big);
  const std::string all = read(*file, 0, 4 + big).value();
  EXPECT_EQ(all.substr(0, 2), "ab");
  EXPECT_EQ(all.find_first_not_of('\0', 2), std::string::npos);
}

// Releasing the cache is a hint: the bytes, the size and later writes are unchanged, also for a
// partly written last page, beyond the end, and after the file shrank below it.
TEST_F(PosixFileSystemTest, ReleasingTheCacheChangesNoByte) {
  auto file = open("f");
  ASSERT_NE(file, nullptr);
  std::string expected(3 * 4096 + 100, 'a');
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(append(*file, expected).ok());
  ASSERT_TRUE(await([&](IoDone done) { file->sync(std::move(done)); }).ok());
  file->release_cache_below(expected.size());
  file->release_cache_below(uint64_t{1} << 40);  // past the end
  EXPECT_EQ(read(*file, 0, expected.size()).value(), expected);
  ASSERT_TRUE(append(*file, "tail").ok());  // into the partly written page
  expected += "tail";
  EXPECT_EQ(read(*file, 0, expected.size() + 10).value(), expected);
  ASSERT_TRUE(truncate(*file, 10).ok());
  file->release_cache_below(5);
  ASSERT_TRUE(append(*file, "X").ok());
  EXPECT_EQ(read(*file, 0, 100).value(), expected.substr(0, 10) + "X");
  EXPECT_EQ(file->size(), 11u);
}

TEST_F(PosixFileSystemTest, AllocateGrowsWithZerosAndKeepsWhatTheFileHas) {
  auto file = create("f", "abcdef");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(await([&](IoDone done) { file->allocate(0, 4, std::move(done)); }).ok());
  EXPECT_EQ(file->size(), 6u);
  EXPECT_EQ(read(*file, 0, 100).value(), "abcdef");
  const uint64_t big = uint64_t{8} << 20;
  ASSERT_TRUE(await([&](IoDone done) { file->allocate(2, big, std::move(done)); }).ok());
  EXPECT_EQ(file->size(), 2 + big);
  const std::string all = read(*file, 0, 2 + big).value();
  EXPECT_EQ(all.substr(0, 6), "abcdef");
  EXPECT_EQ(all.find_first_not_of('\0', 6), std::string::npos);
  ASSERT_TRUE(append(*file, "Z").ok());  // appends after the allocated space
  EXPECT_EQ(read(*file, 2 + big, 10).value(), "Z");
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/f").c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, big) << "the space is reserved";
  const absl::Status huge =
      await([&](IoDone done) { file->allocate(UINT64_MAX - 1, 4, std::move(done)); });
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument) << huge;
  EXPECT_EQ(file->size(), 3 + big);
}

// Large reads skip the holes of allocated space (SEEK_DATA): every byte written must still be
// read, synced or only in the page cache, wherever it lies among never-written space.
TEST_F(PosixFileSystemTest, LargeReadsOfAllocatedSpaceSeeEveryWrittenByte) {
  auto file = open("f");
  ASSERT_NE(file, nullptr);
  const uint64_t size = uint64_t{4} << 20;
  ASSERT_TRUE(await([&](IoDone done) { file->allocate(0, size, std::move(done)); }).ok());
  std::string expected(size, '\0');
  auto put = [&](uint64_t offset, const std::string& bytes) {
    ASSERT_TRUE(write_at(*file, offset, bytes).ok());
    expected.replace(offset, bytes.size(), bytes);
  };
  put(0, "head");
  put(300'001, std::string(70'000, 'm'));
  ASSERT_TRUE(sync(*file).ok());
  put(2'000'000, "cached, not synced");
  put(size - 3, "end");
  EXPECT_EQ(read(*file, 0, size).value(), expected);
  EXPECT_EQ(read(*file, 250'000, 200'000).value(), expected.substr(250'000, 200'000));
  ASSERT_TRUE(sync(*file).ok());
  EXPECT_EQ(read(*file, 0, size).value(), expected);
  // A read that starts in a hole and ends in one.
  EXPECT_EQ(read(*file, 1'000'000, 1'500'000).value(), expected.substr(1'000'000, 1'500'000));
}

TEST_F(PosixFileSystemTest, ReadPastEndOfFileReturnsFewerBytes) {
  auto file = create("f", "abc");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(read(*file, 1, 100).value(), "bc");
  EXPECT_EQ(read(*file, 3, 5).value(), "");
  EXPECT_EQ(read(*file, 1000, 5).value(), "");
  EXPECT_EQ(read(*file, 0, 0).value(), "");
  EXPECT_EQ(read(*file, 0, UINT64_MAX).value(), "abc");
  EXPECT_EQ(read(*file, UINT64_MAX, UINT64_MAX).value(), "");
}

TEST_F(PosixFileSystemTest, TruncateShrinksAndGrowsWithZeros) {
  auto file = create("f", "abcdef");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(truncate(*file, 2).ok());
  EXPECT_EQ(file->size(), 2u);
  EXPECT_EQ(read(*file, 0, 100).value(), "ab");
  ASSERT_TRUE(append(*file, "Z").ok());  // at the new end
  EXPECT_EQ(read(*file, 0, 100).value(), "abZ");
  ASSERT_TRUE(truncate(*file, 6).ok());
  EXPECT_EQ(file->size(), 6u);
  EXPECT_EQ(read(*file, 0, 100).value(), std::string("abZ") + std::string(3, '\0'));
  ASSERT_TRUE(sync(*file).ok());
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/f"), 6u);
}

TEST_F(PosixFileSystemTest, BadOffsetsAreInvalidArgument) {
  auto file = create("f", "abc");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(write_at(*file, UINT64_MAX - 1, "ab").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(write_at(*file, uint64_t{1} << 63, "a").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(truncate(*file, UINT64_MAX).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file->size(), 3u);
  EXPECT_EQ(read(*file, 0, 10).value(), "abc");
}

TEST_F(PosixFileSystemTest, SyncReportsOk) {
  auto file = create("f", "data");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(sync(*file).ok());
  EXPECT_TRUE(sync_dir().ok());
  EXPECT_TRUE(sync(*file).ok());  // nothing new: still OK
}

TEST_F(PosixFileSystemTest, ConsecutiveSyncsShareOneFdatasync) {
  auto file = open("f");
  ASSERT_NE(file, nullptr);
  const PosixFileSystem::Stats before = fs_->stats();
  int ok = 0;
  int done = 0;
  auto count = [&](absl::Status s) {
    ok += s.ok();
    ++done;
  };
  file->append("a", count);
  for (int i = 0; i < 5; ++i) file->sync(count);
  run_until([&] { return done == 6; });
  EXPECT_EQ(ok, 6);
  PosixFileSystem::Stats after = fs_->stats();
  EXPECT_EQ(after.syncs - before.syncs, 5u);
  EXPECT_EQ(after.fdatasyncs - before.fdatasyncs, 1u);

  // A write in between needs a new fdatasync; a read does not.
  file->write_at(0, "b", count);
  file->sync(count);
  file->read_at(0, 1, [&](absl::StatusOr<std::string> r) {
    ok += r.value_or("") == "b";
    ++done;
  });
  file->sync(count);
  file->truncate(0, count);
  file->sync(count);
  run_until([&] { return done == 12; });
  EXPECT_EQ(ok, 12);
  after = fs_->stats();
  EXPECT_EQ(after.syncs - before.syncs, 8u);
  EXPECT_EQ(after.fdatasyncs - before.fdatasyncs, 3u);

  // Another handle on the same file shares its state: its sync is covered too, and its write
  // dirties the file for this handle's next sync.
  auto other = open("f", OpenMode::kOpenExisting);
  ASSERT_NE(other, nullptr);
  file->append("c", count);
  other->sync(count);
  file->sync(count);
  run_until([&] { return done == 15; });
  EXPECT_EQ(ok, 15);
  after = fs_->stats();
  EXPECT_EQ(after.fdatasyncs - before.fdatasyncs, 4u);
}

TEST_F(PosixFileSystemTest, TwoHandlesOnOneFileShareSizeAndEnd) {
  auto a = open("f");
  auto b = open("f");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(append(*a, "aaa").ok());
  EXPECT_EQ(b->size(), 3u);
  ASSERT_TRUE(append(*b, "bb").ok());
  EXPECT_EQ(a->size(), 5u);
  EXPECT_EQ(read(*a, 0, 10).value(), "aaabb");
}

TEST_F(PosixFileSystemTest, RenameReplacesTargetAtomically) {
  auto old_file = create("target", "old");
  auto tmp = create("target.tmp", "new");
  ASSERT_NE(old_file, nullptr);
  ASSERT_NE(tmp, nullptr);
  ASSERT_TRUE(sync(*tmp).ok());
  ASSERT_TRUE(rename("target.tmp", "target").ok());
  ASSERT_TRUE(sync_dir().ok());
  EXPECT_FALSE(fs_->exists("target.tmp"));
  EXPECT_TRUE(fs_->exists("target"));
  EXPECT_THAT(fs_->list(), ElementsAre("target"));
  auto reopened = open("target", OpenMode::kOpenExisting);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(read(*reopened, 0, 10).value(), "new");
  // Handles keep their inode: the replaced file is still readable through its old handle, and
  // the renamed one through its handle.
  EXPECT_EQ(read(*old_file, 0, 10).value(), "old");
  EXPECT_EQ(read(*tmp, 0, 10).value(), "new");

  const absl::Status missing = rename("nope", "other");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("nope"));
  EXPECT_FALSE(fs_->exists("other"));
}

TEST_F(PosixFileSystemTest, RemoveKeepsOpenHandleWorking) {
  auto file = create("f", "still here");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(remove("f").ok());
  ASSERT_TRUE(sync_dir().ok());
  EXPECT_FALSE(fs_->exists("f"));
  EXPECT_THAT(fs_->list(), IsEmpty());
  EXPECT_EQ(read(*file, 0, 100).value(), "still here");
  ASSERT_TRUE(append(*file, "!").ok());
  EXPECT_EQ(read(*file, 0, 100).value(), "still here!");
  EXPECT_TRUE(sync(*file).ok());
  // A new file under the same name is a different file.
  auto fresh = open("f");
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->size(), 0u);

  const absl::Status missing = remove("nope");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("nope"));
}

TEST_F(PosixFileSystemTest, ListIsSortedAndHoldsOnlyFiles) {
  for (const char* name : {"c", "a", "b-2", "b-10", "B"}) ASSERT_NE(open(name), nullptr);
  ASSERT_EQ(::mkdir((dir_ + "/subdir").c_str(), 0755), 0);
  EXPECT_THAT(fs_->list(), ElementsAre("B", "a", "b-10", "b-2", "c"));
  EXPECT_THAT(fs_->list("b-"), ElementsAre("b-10", "b-2"));
  EXPECT_THAT(fs_->list("b-2"), ElementsAre("b-2"));
  EXPECT_THAT(fs_->list("x"), IsEmpty());
  EXPECT_TRUE(fs_->exists("a"));
  EXPECT_FALSE(fs_->exists("subdir"));
  EXPECT_FALSE(fs_->exists("d"));
}

// The names are kept in memory (no listing per store): renames and removals must show, and a
// new file system on the directory must read the same names from disk.
TEST_F(PosixFileSystemTest, ListFollowsRenamesAndRemovesAndMatchesTheDirectory) {
  for (const char* name : {"s1.live.1", "s1.live.2", "s2.live.1"}) ASSERT_NE(open(name), nullptr);
  ASSERT_TRUE(rename("s1.live.1", "s1.spare.1").ok());
  ASSERT_TRUE(remove("s2.live.1").ok());
  EXPECT_THAT(fs_->list("s1."), ElementsAre("s1.live.2", "s1.spare.1"));
  EXPECT_THAT(fs_->list("s2."), IsEmpty());
  EXPECT_FALSE(fs_->exists("s2.live.1"));
  EXPECT_TRUE(fs_->exists("s1.spare.1"));
  // A failed rename changes nothing.
  EXPECT_FALSE(rename("nope", "s1.x").ok());
  EXPECT_FALSE(fs_->exists("s1.x"));
  const std::vector<std::string> before = fs_->list();
  fs_.reset();
  auto fs = PosixFileSystem::Open(dir_, queue_);
  ASSERT_TRUE(fs.ok()) << fs.status();
  fs_ = std::move(*fs);
  EXPECT_EQ(fs_->list(), before);
}

TEST_F(PosixFileSystemTest, InvalidNamesAreRejected) {
  const std::string names[] = {
      "", ".", "..", "a/b", "/etc", std::string(256, 'x'), std::string("a\0b", 3)};
  for (const std::string& name : names) {
    SCOPED_TRACE(absl::StrCat("name of ", name.size(), " bytes"));
    auto file = fs_->open(name, OpenMode::kCreateIfMissing);
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(fs_->exists(name));
    EXPECT_EQ(rename(name, "ok").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(rename("ok", name).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(remove(name).code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_NE(open(std::string(255, 'x')), nullptr);  // the longest valid name
  EXPECT_THAT(fs_->list(), ElementsAre(std::string(255, 'x')));
}

TEST_F(PosixFileSystemTest, OpenExistingOnMissingFileIsNotFound) {
  auto file = fs_->open("missing", OpenMode::kOpenExisting);
  ASSERT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(dir_ + "/missing"));
  EXPECT_THAT(file.status().message(), HasSubstr("ENOENT"));
  EXPECT_FALSE(fs_->exists("missing"));
}

TEST_F(PosixFileSystemTest, OpenOfADirectoryFails) {
  ASSERT_EQ(::mkdir((dir_ + "/subdir").c_str(), 0755), 0);
  EXPECT_FALSE(fs_->open("subdir", OpenMode::kOpenExisting).ok());
}

TEST_F(PosixFileSystemTest, OperationsCompleteInSubmissionOrder) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::vector<int> order;
  int failures = 0;
  int next = 0;
  auto record = [&](int index) {
    return [&order, &failures, index](absl::Status s) {
      failures += !s.ok();
      order.push_back(index);
    };
  };
  for (int round = 0; round < 20; ++round) {
    a->append(std::string(4096, 'a'), record(next++));
    b->write_at(round * 10, "b", record(next++));
    a->read_at(0, 10, [&order, &failures, index = next++](absl::StatusOr<std::string> r) {
      failures += !r.ok();
      order.push_back(index);
    });
    b->sync(record(next++));
    a->truncate(static_cast<uint64_t>(round + 1) * 4096, record(next++));
    fs_->rename(round % 2 == 0 ? "b" : "c", round % 2 == 0 ? "c" : "b", record(next++));
    fs_->sync_dir(record(next++));
    a->sync(record(next++));
  }
  run_until([&] { return static_cast<int>(order.size()) == next; });
  EXPECT_EQ(failures, 0);
  std::vector<int> expected(next);
  for (int i = 0; i < next; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

// Wraps the queue, remembering which threads posted.
class RecordingSink final : public CompletionSink {
 public:
  void post(absl::AnyInvocable<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      posters_.insert(std::this_thread::get_id());
    }
    queue_.post(std::move(fn));
  }
  std::set<std::thread::id> posters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return posters_;
  }
  BlockingCompletionQueue& queue() { return queue_; }

 private:
  mutable std::mutex mu_;
  std::set<std::thread::id> posters_;
  BlockingCompletionQueue queue_;
};

TEST(PosixFileSystemThreadsTest, CompletionsRunOnTheDrainingThreadNeverOnTheIoThread) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  RecordingSink sink;
  auto fs = PosixFileSystem::Open(tmp.path(), sink);
  ASSERT_TRUE(fs.ok()) << fs.status();
  auto file = (*fs)->open("f", OpenMode::kCreateIfMissing);
  ASSERT_TRUE(file.ok()) << file.status();

  constexpr int kOps = 50;
  std::vector<std::thread::id> ran_on;  // only the drainer touches it
  std::thread::id drainer_id;
  {
    std::thread drainer([&] {
      drainer_id = std::this_thread::get_id();
      while (static_cast<int>(ran_on.size()) < kOps) {
        if (!sink.queue().wait_and_run_one_for(kTimeout)) break;
      }
    });
    // Submitted from this thread while the drainer already waits.
    auto note = [&ran_on](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      ran_on.push_back(std::this_thread::get_id());
    };
    for (int i = 0; i < kOps / 5; ++i) {
      (*file)->append("x", note);
      (*file)->sync(note);
      (*file)->read_at(0, 1, [&ran_on](absl::StatusOr<std::string> r) {
        EXPECT_TRUE(r.ok()) << r.status();
        ran_on.push_back(std::this_thread::get_id());
      });
      (*fs)->sync_dir(note);
      (*fs)->remove("nope", [&ran_on](absl::Status s) {
        EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
        ran_on.push_back(std::this_thread::get_id());
      });
    }
    drainer.join();
  }
  ASSERT_EQ(static_cast<int>(ran_on.size()), kOps);
  const std::set<std::thread::id> posters = sink.posters();
  ASSERT_EQ(posters.size(), 1u);  // one I/O thread posted every completion
  const std::thread::id io_thread = *posters.begin();
  EXPECT_NE(io_thread, std::this_thread::get_id());
  EXPECT_NE(io_thread, drainer_id);
  for (const std::thread::id id : ran_on) EXPECT_EQ(id, drainer_id);
  file->reset();
  fs->reset();
}

TEST_F(PosixFileSystemTest, DestructionRunsEveryQueuedOperation) {
  constexpr int kAppends = 300;
  int ok = 0;
  int done = 0;
  {
    auto file = open("log");
    ASSERT_NE(file, nullptr);
    for (int i = 0; i < kAppends; ++i) {
      file->append(std::string(1000, 'x'), [&](absl::Status s) {
        ok += s.ok();
        ++done;
      });
      if (i % 50 == 0) {
        file->sync([&](absl::Status s) {
          ok += s.ok();
          ++done;
        });
      }
    }
    // The handle closes with its operations still queued; they keep the file open.
  }
  fs_->sync_dir([&](absl::Status s) {
    ok += s.ok();
    ++done;
  });
  fs_.reset();  // joins the I/O thread after it ran everything
  const int expected = kAppends + kAppends / 50 + 1;
  EXPECT_EQ(queue_.pending(), static_cast<size_t>(expected));
  EXPECT_EQ(queue_.run_until_idle(), static_cast<size_t>(expected));
  EXPECT_EQ(done, expected);
  EXPECT_EQ(ok, expected);

  // The directory lock went with the file system: it opens again, with every byte there.
  auto fs = PosixFileSystem::Open(dir_, queue_);
  ASSERT_TRUE(fs.ok()) << fs.status();
  fs_ = std::move(*fs);
  auto file = open("log", OpenMode::kOpenExisting);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->size(), uint64_t{kAppends} * 1000);
}

TEST_F(PosixFileSystemTest, ADirectoryServesOneFileSystemAtATime) {
  BlockingCompletionQueue other_queue;
  auto second = PosixFileSystem::Open(dir_, other_queue);
  ASSERT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(dir_));
}

TEST(PosixFileSystemOpenTest, CreatesMissingDirectoriesAndRejectsFiles) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  BlockingCompletionQueue queue;
  const std::string nested = tmp.path() + "/a/b/c/";
  {
    auto fs = PosixFileSystem::Open(nested, queue);
    ASSERT_TRUE(fs.ok()) << fs.status();
    EXPECT_EQ((*fs)->dir(), tmp.path() + "/a/b/c");
    EXPECT_TRUE(std::filesystem::is_directory(nested));
    EXPECT_THAT((*fs)->list(), IsEmpty());
  }
  {
    // A relative path works too.
    const std::string cwd = std::filesystem::current_path();
    std::filesystem::current_path(tmp.path());
    auto fs = PosixFileSystem::Open("rel/dir", queue);
    std::filesystem::current_path(cwd);
    ASSERT_TRUE(fs.ok()) << fs.status();
    EXPECT_TRUE(std::filesystem::is_directory(tmp.path() + "/rel/dir"));
  }
  // A path through a regular file.
  ASSERT_TRUE(std::filesystem::create_directories(tmp.path() + "/x"));
  {
    std::FILE* f = std::fopen((tmp.path() + "/x/file").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  auto on_file = PosixFileSystem::Open(tmp.path() + "/x/file", queue);
  EXPECT_FALSE(on_file.ok());
  EXPECT_THAT(on_file.status().message(), HasSubstr(tmp.path() + "/x/file"));
  auto under_file = PosixFileSystem::Open(tmp.path() + "/x/file/sub", queue);
  EXPECT_FALSE(under_file.ok());
  EXPECT_EQ(PosixFileSystem::Open("", queue).status().code(), absl::StatusCode::kInvalidArgument);
}

// A write that fails part way (here: past RLIMIT_FSIZE, which fails with EFBIG after a short
// write, the same path as ENOSPC on a full disk) leaves the size as it was.
TEST_F(PosixFileSystemTest, FailedWriteLeavesSizeUnchanged) {
  auto file = create("f", std::string(100, 'a'));
  ASSERT_NE(file, nullptr);
  constexpr rlim_t kLimit = 64 * 1024;
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < kLimit) GTEST_SKIP();
  auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a killed process
  rlimit limit = saved;
  limit.rlim_cur = kLimit;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);

  const absl::Status past = write_at(*file, kLimit - 10, std::string(4096, 'b'));
  const absl::Status grow = truncate(*file, 2 * kLimit);
  ASSERT_TRUE(append(*file, "ok").ok());

  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, saved_handler);

  EXPECT_EQ(past.code(), absl::StatusCode::kInvalidArgument) << past;
  EXPECT_THAT(past.message(), HasSubstr(dir_ + "/f"));
  EXPECT_THAT(past.message(), HasSubstr("EFBIG"));
  EXPECT_EQ(grow.code(), absl::StatusCode::kInvalidArgument) << grow;
  EXPECT_EQ(file->size(), 102u);
  EXPECT_EQ(read(*file, 0, 1000).value(), std::string(100, 'a') + "ok");
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/f"), 102u);
}

TEST(PosixErrnoStatusTest, MapsErrnoToContractCodes) {
  EXPECT_EQ(ErrnoToStatusCode(ENOSPC), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatusCode(EDQUOT), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatusCode(EIO), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoToStatusCode(ENOENT), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatusCode(EINVAL), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoToStatusCode(EFBIG), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoToStatusCode(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatusCode(EBADF), absl::StatusCode::kInternal);
  EXPECT_EQ(ErrnoToStatusCode(EEXIST), absl::StatusCode::kInternal);
  EXPECT_EQ(ErrnoToStatusCode(0), absl::StatusCode::kInternal);
}

TEST(PosixErrnoStatusTest, MessageNamesTheFileAndTheErrno) {
  const absl::Status full = ErrnoToStatus(ENOSPC, "pwrite /data/wal-7 at offset 4096");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "pwrite /data/wal-7 at offset 4096: No space left on device [ENOSPC]");
  const absl::Status eio = ErrnoToStatus(EIO, "pread f");
  EXPECT_EQ(eio.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(eio.message(), HasSubstr("Input/output error [EIO]"));
  const absl::Status unknown = ErrnoToStatus(99999, "op f");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(unknown.message(), HasSubstr("errno 99999"));
}

TEST(PosixBlockingCompletionQueueTest, RunsInPostOrderIncludingNestedPosts) {
  BlockingCompletionQueue queue;
  std::vector<int> ran;
  queue.post([&] {
    ran.push_back(1);
    queue.post([&] { ran.push_back(3); });
  });
  queue.post([&] { ran.push_back(2); });
  EXPECT_EQ(queue.pending(), 2u);
  EXPECT_EQ(queue.run_until_idle(), 3u);
  EXPECT_THAT(ran, ElementsAre(1, 2, 3));
  EXPECT_FALSE(queue.wait_and_run_one_for(std::chrono::nanoseconds(0)));

  std::thread poster([&] { queue.post([&] { ran.push_back(4); }); });
  queue.wait_and_run_one();
  poster.join();
  EXPECT_THAT(ran, ElementsAre(1, 2, 3, 4));
}


// With a cap on descriptors, files whose descriptor was closed are reopened by name: every
// byte written through any handle is read back, made durable by sync, and the cap holds.
class CappedPosixFileSystemTest : public PosixFileSystemTest {
 protected:
  void SetUp() override {
    PosixFileSystemTest::SetUp();
    fs_.reset();
    auto fs = PosixFileSystem::Open(dir_, queue_, PosixFileSystem::Options{.max_open_files = 2});
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
  }
  static std::string on_disk(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(CappedPosixFileSystemTest, FilesBeyondTheCapAreReopenedAndLoseNothing) {
  std::vector<std::unique_ptr<File>> files;
  for (int i = 0; i < 6; ++i) files.push_back(open(absl::StrCat("f", i)));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(append(*files[i], absl::StrCat(i, ":", round, ";")).ok());
    EXPECT_LE(fs_->stats().open_descriptors, 2u);
  }
  for (int i = 0; i < 6; ++i) {
    const std::string expected = absl::StrCat(i, ":0;", i, ":1;", i, ":2;");
    EXPECT_EQ(read(*files[i], 0, 100).value(), expected);
    ASSERT_TRUE(sync(*files[i]).ok());
    EXPECT_EQ(on_disk(absl::StrCat(dir_, "/f", i)), expected);
  }
  const PosixFileSystem::Stats stats = fs_->stats();
  EXPECT_LE(stats.open_descriptors, 2u);
  EXPECT_GT(stats.reopens, 0u);
  EXPECT_GT(stats.closed_for_cap, 0u);
}

TEST_F(CappedPosixFileSystemTest, RenamedAndRemovedFilesKeepWorkingUnderTheCap) {
  auto moved = create("moved", "m");
  auto removed = create("removed", "r");
  auto replaced = create("replaced", "old");
  auto other = create("other", "o");  // pushes the others' descriptors out
  ASSERT_TRUE(rename("moved", "moved2").ok());      // its descriptor may be closed: by new name
  ASSERT_TRUE(remove("removed").ok());              // no name left: keeps its descriptor
  auto replacement = create("tmp", "new");
  ASSERT_TRUE(rename("tmp", "replaced").ok());      // "replaced"'s old file loses its name
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(append(*other, "o").ok());
    ASSERT_TRUE(append(*moved, "m").ok());
    ASSERT_TRUE(append(*removed, "r").ok());
    ASSERT_TRUE(append(*replaced, "!").ok());
    ASSERT_TRUE(append(*replacement, "+").ok());
  }
  EXPECT_EQ(read(*moved, 0, 100).value(), "mmmm");
  EXPECT_EQ(read(*removed, 0, 100).value(), "rrrr");
  EXPECT_EQ(read(*replaced, 0, 100).value(), "old!!!");
  EXPECT_EQ(read(*replacement, 0, 100).value(), "new+++");
  ASSERT_TRUE(sync(*moved).ok());
  ASSERT_TRUE(sync(*replacement).ok());
  EXPECT_EQ(on_disk(dir_ + "/moved2"), "mmmm");
  EXPECT_EQ(on_disk(dir_ + "/replaced"), "new+++");
  EXPECT_THAT(fs_->list(), ElementsAre("moved2", "other", "replaced"));
  // Two pinned (removed, renamed over) plus at most the cap.
  EXPECT_LE(fs_->stats().open_descriptors, 4u);
}

}  // namespace
}  // namespace walle::disk
