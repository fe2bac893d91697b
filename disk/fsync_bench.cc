// walle-fsync-bench: what durability costs on this machine's disk, measured through
// PosixFileSystem (so the I/O thread and the completion hand-off are included).
//
//   walle-fsync-bench [DIR] [--reps N] [--budget-ms MS] [--latency-budget-ms MS] [--ops N]
//
// DIR (default: a fresh temporary directory under the current one, removed afterwards) is
// where the benchmark files go; it must be on the disk you want to measure (not tmpfs).
// Prints, for each figure, the median across repetitions and their range.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "disk/blocking_completion_queue.h"
#include "disk/posix_file_system.h"

namespace walle::disk {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void die(const absl::Status& status) {
  std::fprintf(stderr, "walle-fsync-bench: %s\n", status.ToString().c_str());
  std::exit(1);
}

struct Options {
  std::string dir;
  int reps = 5;
  int budget_ms = 250;          // per throughput measurement and repetition
  int latency_budget_ms = 600;  // per latency measurement and repetition
  int ops = 500;                // latency samples per repetition (at most)
};

// The benchmark's event loop: submits, then drains completions on this thread.
class Bench {
 public:
  explicit Bench(const Options& options) : options_(options) {
    auto fs = PosixFileSystem::Open(options.dir, queue_);
    if (!fs.ok()) die(fs.status());
    fs_ = std::move(*fs);
  }

  PosixFileSystem& fs() { return *fs_; }

  // A callback that counts down `pending` and remembers the first error.
  IoDone expect_ok() {
    ++pending_;
    return [this](absl::Status s) {
      --pending_;
      if (!s.ok() && error_.ok()) error_ = s;
    };
  }

  // Runs completions until every expect_ok() callback ran; exits on an error.
  void drain() {
    while (pending_ > 0) queue_.wait_and_run_one();
    if (!error_.ok()) die(error_);
  }

  std::unique_ptr<File> create(const std::string& name) {
    auto file = fs_->open(name, OpenMode::kCreateIfMissing);
    if (!file.ok()) die(file.status());
    return std::move(*file);
  }

  void remove(std::unique_ptr<File> file) {
    const std::string name = file->name();
    file.reset();
    fs_->remove(name, expect_ok());
    drain();
  }

  const Options& options() const { return options_; }

 private:
  const Options& options_;
  BlockingCompletionQueue queue_;
  std::unique_ptr<PosixFileSystem> fs_;
  int64_t pending_ = 0;
  absl::Status error_;
};

// Nearest-rank percentile of sorted samples.
double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// One figure across repetitions: "median [min .. max]".
std::string summary(std::vector<double> values, const char* format) {
  std::sort(values.begin(), values.end());
  const double median = values.size() % 2 == 1
                            ? values[values.size() / 2]
                            : (values[values.size() / 2 - 1] + values[values.size() / 2]) / 2;
  // Checked at run time: the format is a parameter (clang refuses the constexpr constructor).
  const std::unique_ptr<absl::ParsedFormat<'f'>> parsed = absl::ParsedFormat<'f'>::New(format);
  const absl::ParsedFormat<'f'>& f = *parsed;
  return absl::StrCat(absl::StrFormat(f, median), " [", absl::StrFormat(f, values.front()), " .. ",
                      absl::StrFormat(f, values.back()), "]");
}

std::string record(size_t bytes, uint64_t seed) {
  std::string s(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) s[i] = static_cast<char>('a' + (seed + i) % 26);
  return s;
}

constexpr size_t kRecord = 4096;

struct Latencies {
  std::vector<double> p50, p99, max;  // milliseconds, one per repetition
  size_t samples = 0;
};

void add_rep(Latencies& out, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  out.p50.push_back(percentile(ms, 0.50));
  out.p99.push_back(percentile(ms, 0.99));
  out.max.push_back(ms.back());
  out.samples += ms.size();
}

void print_latencies(const char* what, const Latencies& l, int reps) {
  std::printf("%-30s p50 %s  p99 %s  max %s ms  (%zu samples/rep)\n", what,
              summary(l.p50, "%.3f").c_str(), summary(l.p99, "%.3f").c_str(),
              summary(l.max, "%.3f").c_str(), l.samples / static_cast<size_t>(reps));
}

// Each 4 KiB append followed by its own sync; latency from submitting the append to the
// sync's completion.
std::vector<double> append_sync_rep(Bench& bench, int rep) {
  auto file = bench.create(absl::StrCat("fsync-bench-append-", rep));
  const std::string data = record(kRecord, rep);
  std::vector<double> ms;
  const auto start = Clock::now();
  while (static_cast<int>(ms.size()) < bench.options().ops &&
         seconds_since(start) * 1000 < bench.options().latency_budget_ms) {
    const auto t0 = Clock::now();
    file->append(data, bench.expect_ok());
    file->sync(bench.expect_ok());
    bench.drain();
    ms.push_back(seconds_since(t0) * 1000);
  }
  bench.remove(std::move(file));
  return ms;
}

// Overwrites of 4 KiB records, in order, in a file whose blocks were written (zeros) and
// synced beforehand, each followed by its own sync: no allocation, no size change.
std::vector<double> overwrite_sync_rep(Bench& bench, int rep) {
  auto file = bench.create(absl::StrCat("fsync-bench-overwrite-", rep));
  const uint64_t records = static_cast<uint64_t>(bench.options().ops);
  const std::string zeros(64 * kRecord, '\0');
  for (uint64_t off = 0; off < records * kRecord; off += zeros.size()) {
    file->write_at(off, zeros.substr(0, std::min<uint64_t>(zeros.size(), records * kRecord - off)),
                   bench.expect_ok());
  }
  file->sync(bench.expect_ok());
  bench.fs().sync_dir(bench.expect_ok());
  bench.drain();
  const std::string data = record(kRecord, rep);
  std::vector<double> ms;
  const auto start = Clock::now();
  for (uint64_t i = 0;
       i < records && seconds_since(start) * 1000 < bench.options().latency_budget_ms; ++i) {
    const auto t0 = Clock::now();
    file->write_at(i * kRecord, data, bench.expect_ok());
    file->sync(bench.expect_ok());
    bench.drain();
    ms.push_back(seconds_since(t0) * 1000);
  }
  bench.remove(std::move(file));
  return ms;
}

struct Throughput {
  double appends_per_second;
  double mb_per_second;
  double syncs_per_second;
};

// Group commit: `group` appends of `entry` bytes, then one sync covering them all; the next
// group starts when the sync completes (one group in flight, as a single-stream leader would).
Throughput group_commit_rep(Bench& bench, size_t entry, int group, int rep) {
  auto file = bench.create(absl::StrCat("fsync-bench-group-", rep));
  const std::string data = record(entry, rep);
  uint64_t appends = 0;
  uint64_t syncs = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < group; ++i) file->append(data, bench.expect_ok());
    file->sync(bench.expect_ok());
    bench.drain();
    appends += static_cast<uint64_t>(group);
    ++syncs;
    elapsed = seconds_since(start);
  } while (elapsed * 1000 < bench.options().budget_ms || syncs < 3);
  bench.remove(std::move(file));
  return Throughput{static_cast<double>(appends) / elapsed,
                    static_cast<double>(appends * entry) / elapsed / 1e6,
                    static_cast<double>(syncs) / elapsed};
}

int run(const Options& options) {
  Bench bench(options);
  std::printf(
      "walle-fsync-bench: dir %s, %d repetitions (latency: up to %d samples or %d ms each; "
      "throughput: %d ms each)\nfigures are median [min .. max] across repetitions\n\n",
      bench.fs().dir().c_str(), options.reps, options.ops, options.latency_budget_ms,
      options.budget_ms);

  Latencies append_sync;
  Latencies overwrite_sync;
  for (int rep = 0; rep < options.reps; ++rep) {
    add_rep(append_sync, append_sync_rep(bench, rep));
    add_rep(overwrite_sync, overwrite_sync_rep(bench, rep));
  }
  std::printf("latency, 4 KiB records, one sync each:\n");
  print_latencies("  append + sync", append_sync, options.reps);
  print_latencies("  overwrite + sync (prealloc)", overwrite_sync, options.reps);

  std::printf("\ngroup commit: N appends share one sync:\n");
  for (size_t entry : {size_t{1024}, size_t{64 * 1024}}) {
    for (int group : {1, 16, 128}) {
      std::vector<double> appends, mb, syncs;
      for (int rep = 0; rep < options.reps; ++rep) {
        const Throughput t = group_commit_rep(bench, entry, group, rep);
        appends.push_back(t.appends_per_second);
        mb.push_back(t.mb_per_second);
        syncs.push_back(t.syncs_per_second);
      }
      std::printf("  %2zu KiB x N=%-3d  %s appends/s  %s MB/s  %s syncs/s\n", entry / 1024, group,
                  summary(appends, "%.0f").c_str(), summary(mb, "%.1f").c_str(),
                  summary(syncs, "%.0f").c_str());
    }
  }
  const PosixFileSystem::Stats stats = bench.fs().stats();
  std::printf("\n%llu operations, %llu syncs, %llu fdatasyncs\n",
              static_cast<unsigned long long>(stats.operations),
              static_cast<unsigned long long>(stats.syncs),
              static_cast<unsigned long long>(stats.fdatasyncs));
  return 0;
}

}  // namespace
}  // namespace walle::disk

int main(int argc, char** argv) {
  walle::disk::Options options;
  CLI::App app{"fsync latency and group-commit throughput through PosixFileSystem"};
  app.add_option("dir", options.dir,
                 "directory for the benchmark files (default: a temporary directory under the "
                 "current one, removed afterwards)");
  app.add_option("--reps", options.reps, "repetitions of every measurement")
      ->check(CLI::Range(1, 1000));
  app.add_option("--budget-ms", options.budget_ms,
                 "time budget of one throughput measurement in one repetition")
      ->check(CLI::Range(1, 600000));
  app.add_option("--latency-budget-ms", options.latency_budget_ms,
                 "time budget of one latency measurement in one repetition")
      ->check(CLI::Range(1, 600000));
  app.add_option("--ops", options.ops, "latency samples per repetition, at most")
      ->check(CLI::Range(1, 1000000));
  CLI11_PARSE(app, argc, argv);

  std::string temp_dir;
  if (options.dir.empty()) {
    std::string pattern = "./walle-fsync-bench.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("walle-fsync-bench: mkdtemp");
      return 1;
    }
    temp_dir = options.dir = pattern;
  }
  const int rc = walle::disk::run(options);
  // Every benchmark file was removed; the temporary directory is empty now.
  if (!temp_dir.empty()) ::rmdir(temp_dir.c_str());
  return rc;
}
