// walle-store-bench: the storage engine on real files (Google Benchmark).
//
// Measures, in one run so they can be compared: raw 4 KiB pwrite+fdatasync latency through
// PosixFileSystem, and StreamStore group commit: N entries appended, then one sync() covering
// them all, for 1 KiB and 64 KiB entries. Reports appends/s (items_per_second) and MB/s
// (bytes_per_second). Run with --benchmark_repetitions=5 for medians and spread; the data
// directory is WALLE_BENCH_DIR or ./walle-store-bench.data (deleted afterwards).
//
// Not a test: figures only. See ../shared/design/machine.md for this machine's limits.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/storage/stream_store.h"
#include "core/util/check.h"
#include "disk/blocking_completion_queue.h"
#include "disk/posix_file_system.h"

namespace walle {
namespace {

using storage::StoreOptions;
using storage::StreamStore;

std::string bench_dir(const std::string& leaf) {
  const char* base = std::getenv("WALLE_BENCH_DIR");
  return absl::StrCat(base != nullptr ? base : "./walle-store-bench.data", "/", leaf);
}

// A data directory with its file system and a completion queue this thread drains.
struct Disk {
  explicit Disk(const std::string& leaf) : dir(bench_dir(leaf)) {
    std::filesystem::remove_all(dir);
    auto opened = disk::PosixFileSystem::Open(dir, queue);
    WALLE_CHECK_MSG(opened.ok(), std::string(opened.status().message()).c_str());
    fs = std::move(*opened);
  }
  ~Disk() {
    fs.reset();
    std::filesystem::remove_all(dir);
  }
  // Runs completions until `done` is true.
  template <class Pred>
  void wait(Pred done) {
    while (!done()) queue.wait_and_run_one();
  }
  absl::Status run(absl::AnyInvocable<void(IoDone)> op) {
    std::optional<absl::Status> result;
    op([&result](absl::Status s) { result = std::move(s); });
    wait([&result] { return result.has_value(); });
    return *result;
  }

  std::string dir;
  disk::BlockingCompletionQueue queue;
  std::unique_ptr<disk::PosixFileSystem> fs;
};

// The floor everything else stands on: one 4 KiB append and its fdatasync.
void BM_RawAppendFdatasync4K(benchmark::State& state) {
  Disk d("raw");
  auto file = d.fs->open("raw", OpenMode::kCreateIfMissing);
  WALLE_CHECK(file.ok());
  const std::string block(4096, 'x');
  for (auto _ : state) {
    WALLE_CHECK(d.run([&](IoDone done) { (*file)->append(block, std::move(done)); }).ok());
    WALLE_CHECK(d.run([&](IoDone done) { (*file)->sync(std::move(done)); }).ok());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 4096);
  file->reset();
}
BENCHMARK(BM_RawAppendFdatasync4K)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Group commit: range(0)-byte entries, range(1) appended per sync.
void BM_StoreGroupCommit(benchmark::State& state) {
  const uint64_t entry_bytes = static_cast<uint64_t>(state.range(0));
  const uint64_t group = static_cast<uint64_t>(state.range(1));
  Disk d(absl::StrCat("store-", entry_bytes, "-", group));
  StoreOptions options;  // production defaults: 64 MiB preallocated segments
  options.max_uncommitted_entries = 1 << 20;
  options.max_queued_bytes = 256ULL << 20;
  std::optional<absl::StatusOr<std::unique_ptr<StreamStore>>> opened;
  StreamStore::open(
      *d.fs, "bench", options,
      [&opened](absl::StatusOr<std::unique_ptr<StreamStore>> s) { opened = std::move(s); });
  d.wait([&opened] { return opened.has_value(); });
  WALLE_CHECK(opened->ok());
  StreamStore& store = ***opened;

  Entry entry;
  entry.data.assign(entry_bytes, 'e');
  uint64_t previous = 0;
  for (auto _ : state) {
    for (uint64_t i = 0; i < group; ++i) {
      entry.id = store.tail_id() + 1;
      entry.checksum = chain_checksum(previous, entry.data);
      previous = entry.checksum;
      WALLE_CHECK(store.append(entry).ok());
    }
    WALLE_CHECK(store.commit(store.tail_id()).ok());
    WALLE_CHECK(d.run([&](IoDone done) { store.sync(std::move(done)); }).ok());
  }
  state.SetItemsProcessed(state.iterations() * group);
  state.SetBytesProcessed(state.iterations() * group * entry_bytes);
  opened->value().reset();
}
BENCHMARK(BM_StoreGroupCommit)
    ->ArgNames({"entry_bytes", "per_sync"})
    ->Args({1024, 1})
    ->Args({1024, 16})
    ->Args({1024, 128})
    ->Args({65536, 1})
    ->Args({65536, 16})
    ->Args({65536, 128})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace walle

BENCHMARK_MAIN();
