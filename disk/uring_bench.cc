// walle-uring-bench: io_uring against PosixFileSystem's I/O thread, for the server's real
// write pattern, with blocking pwrite + fdatasync in the calling thread as the yardstick.
//
//   walle-uring-bench [DIR] [--reps N] [--groups N]
//
// The pattern: a log file preallocated by writing zeros and fdatasync'ed once (64 MiB), then
// groups, each one pwrite of G bytes (4 KiB, 64 KiB) at the next offset (wrapping at the end)
// followed by one fdatasync; a stream submits its next group as soon as its previous sync
// completed (one sync in flight per stream, as group commit does). Measured with one stream,
// and with two streams on two files running concurrently.
//
// Why: PosixFileSystem executes every operation of a data directory on one thread, one at a
// time, so two streams serialize; io_uring (write and fsync linked in one submission, reaped
// by the submitting thread) can keep both in flight and saves the user-space hand-off. This
// says what switching the binding would buy.
//
// Configurations, run interleaved within every repetition (the order rotates per rep):
//   raw         blocking pwrite + fdatasync in the calling thread (two streams: one thread
//               per stream, so both syncs can be in flight)
//   raw-serial  two streams only: one thread alternates the streams' groups, as an I/O thread
//               would; a group's latency counts from when its stream became ready
//   posix-fs    PosixFileSystem::write_at + sync, completions drained by this thread
//   io_uring    IORING_OP_WRITE linked (IOSQE_IO_LINK) to IORING_OP_FSYNC with
//               IORING_FSYNC_DATASYNC, one ring, reaped here with io_uring_wait_cqe
// Latency is per group, from submission to the completion seen by the submitting thread.
// Prints the median across reps [min .. max] and the median of the per-rep ratio to raw.
// Exits 2 if io_uring is unavailable (e.g. seccomp: EPERM/ENOSYS). Not a test.

#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "disk/blocking_completion_queue.h"
#include "disk/posix_file_system.h"

namespace walle::disk {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kFileBytes = uint64_t{64} << 20;
constexpr int kMaxStreams = 2;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "walle-uring-bench: %s\n", message.c_str());
  std::exit(1);
}

[[noreturn]] void die_errno(const std::string& what, int err) {
  die(absl::StrCat(what, ": ", std::strerror(err)));
}

struct Options {
  std::string dir;
  int reps = 5;
  int groups = 2000;  // per stream and repetition
};

// One measurement: `streams` streams, each writing groups of `group_bytes`.
struct Pattern {
  int streams;
  size_t group_bytes;
};

enum class Config { kRaw, kRawSerial, kPosixFs, kUring };

const char* config_name(Config c) {
  switch (c) {
    case Config::kRaw: return "raw";
    case Config::kRawSerial: return "raw-serial";
    case Config::kPosixFs: return "posix-fs";
    case Config::kUring: return "io_uring";
  }
  return "?";
}

std::vector<Config> configs_for(const Pattern& p) {
  if (p.streams == 1) return {Config::kRaw, Config::kPosixFs, Config::kUring};
  return {Config::kRaw, Config::kRawSerial, Config::kPosixFs, Config::kUring};
}

// Where a stream's next group goes: the next offset in its preallocated file, wrapping at the
// end. Kept across repetitions, so every group overwrites zeros or older groups (never grows
// the file: no metadata to sync).
struct Cursor {
  uint64_t next = 0;
  uint64_t take(size_t bytes) {
    if (next + bytes > kFileBytes) next = 0;
    const uint64_t offset = next;
    next += bytes;
    return offset;
  }
};

// The latencies of one configuration in one repetition, and the wall time they took.
struct Samples {
  std::vector<double> ms;
  double seconds = 0;
};

struct RepResult {
  double p50_ms;
  double p99_ms;
  double groups_per_second;
};

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

RepResult summarize(Samples samples) {
  std::sort(samples.ms.begin(), samples.ms.end());
  return RepResult{percentile(samples.ms, 0.50), percentile(samples.ms, 0.99),
                   static_cast<double>(samples.ms.size()) / samples.seconds};
}

std::string group_data(size_t bytes) {
  std::string s(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

// --- plain syscalls ------------------------------------------------------------------------

void pwrite_all(int fd, const char* data, size_t bytes, uint64_t offset) {
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, data, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die_errno("pwrite", errno);
    data += n;
    bytes -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void fdatasync_or_die(int fd) {
  if (::fdatasync(fd) != 0) die_errno("fdatasync", errno);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die_errno(absl::StrCat("open ", dir), errno);
  if (::fsync(fd) != 0) die_errno(absl::StrCat("fsync ", dir), errno);
  ::close(fd);
}

// Creates `path` and writes kFileBytes of zeros to it, fdatasync'ed; returns the descriptor.
int create_preallocated(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die_errno(absl::StrCat("open ", path), errno);
  const std::string zeros(1 << 20, '\0');
  for (uint64_t off = 0; off < kFileBytes; off += zeros.size()) {
    pwrite_all(fd, zeros.data(), zeros.size(), off);
  }
  fdatasync_or_die(fd);
  return fd;
}

// A set of preallocated files driven with plain descriptors (raw, raw-serial and io_uring).
struct FdFiles {
  FdFiles(const std::string& dir, const std::string& prefix) {
    for (int s = 0; s < kMaxStreams; ++s) {
      paths[s] = absl::StrCat(dir, "/", prefix, "-", s);
      fds[s] = create_preallocated(paths[s]);
    }
    fsync_dir(dir);
  }
  ~FdFiles() {
    for (int s = 0; s < kMaxStreams; ++s) {
      ::close(fds[s]);
      ::unlink(paths[s].c_str());
    }
  }
  FdFiles(const FdFiles&) = delete;
  FdFiles& operator=(const FdFiles&) = delete;

  std::string paths[kMaxStreams];
  int fds[kMaxStreams];
  Cursor cursors[kMaxStreams];
};

// --- raw: blocking syscalls in the calling thread ------------------------------------------

void raw_stream(int fd, Cursor& cursor, const std::string& data, int groups,
                std::vector<double>& ms) {
  for (int i = 0; i < groups; ++i) {
    const auto t0 = Clock::now();
    pwrite_all(fd, data.data(), data.size(), cursor.take(data.size()));
    fdatasync_or_die(fd);
    ms.push_back(ms_between(t0, Clock::now()));
  }
}

// One thread per stream (one stream: this thread).
Samples run_raw(FdFiles& files, const Pattern& p, const std::string& data, int groups) {
  std::vector<double> per_stream[kMaxStreams];
  const auto start = Clock::now();
  if (p.streams == 1) {
    raw_stream(files.fds[0], files.cursors[0], data, groups, per_stream[0]);
  } else {
    std::vector<std::thread> threads;
    for (int s = 0; s < p.streams; ++s) {
      threads.emplace_back([&, s] {
        raw_stream(files.fds[s], files.cursors[s], data, groups, per_stream[s]);
      });
    }
    for (auto& t : threads) t.join();
  }
  Samples out;
  out.seconds = ms_between(start, Clock::now()) / 1000;
  for (int s = 0; s < p.streams; ++s) {
    out.ms.insert(out.ms.end(), per_stream[s].begin(), per_stream[s].end());
  }
  return out;
}

// One thread runs the streams' groups in turn. A stream is ready for its next group when its
// previous one completed; the group's latency counts from then (so it includes waiting for the
// other stream's group, as a queue behind one I/O thread would).
Samples run_raw_serial(FdFiles& files, const Pattern& p, const std::string& data, int groups) {
  Samples out;
  const auto start = Clock::now();
  std::vector<Clock::time_point> ready(static_cast<size_t>(p.streams), start);
  for (int i = 0; i < groups; ++i) {
    for (int s = 0; s < p.streams; ++s) {
      pwrite_all(files.fds[s], data.data(), data.size(), files.cursors[s].take(data.size()));
      fdatasync_or_die(files.fds[s]);
      const auto done = Clock::now();
      out.ms.push_back(ms_between(ready[static_cast<size_t>(s)], done));
      ready[static_cast<size_t>(s)] = done;
    }
  }
  out.seconds = ms_between(start, Clock::now()) / 1000;
  return out;
}

// --- posix-fs: PosixFileSystem and its I/O thread ------------------------------------------

class PosixFsBench {
 public:
  explicit PosixFsBench(const std::string& dir) {
    auto fs = PosixFileSystem::Open(dir, queue_);
    if (!fs.ok()) die(fs.status().ToString());
    fs_ = std::move(*fs);
    for (int s = 0; s < kMaxStreams; ++s) {
      auto file = fs_->open(absl::StrCat("posix-", s), OpenMode::kCreateIfMissing);
      if (!file.ok()) die(file.status().ToString());
      files_[s] = std::move(*file);
      files_[s]->zero_fill(0, kFileBytes, expect_ok());
      files_[s]->sync(expect_ok());
    }
    fs_->sync_dir(expect_ok());
    drain();
  }

  ~PosixFsBench() {
    for (int s = 0; s < kMaxStreams; ++s) {
      const std::string name = files_[s]->name();
      files_[s].reset();
      fs_->remove(name, expect_ok());
    }
    drain();
  }

  PosixFsBench(const PosixFsBench&) = delete;
  PosixFsBench& operator=(const PosixFsBench&) = delete;

  Samples run(const Pattern& p, const std::string& data, int groups) {
    samples_ = Samples{};
    const auto start = Clock::now();
    for (int s = 0; s < p.streams; ++s) {
      streams_[s].remaining = groups;
      submit_group(s, data);
    }
    drain();
    samples_.seconds = ms_between(start, Clock::now()) / 1000;
    return std::move(samples_);
  }

 private:
  struct Stream {
    int remaining = 0;
    Clock::time_point submitted;
  };

  // The group's write and its sync; the sync's completion submits the stream's next group.
  void submit_group(int s, const std::string& data) {
    Stream& stream = streams_[s];
    stream.submitted = Clock::now();
    files_[s]->write_at(cursors_[s].take(data.size()), data, expect_ok());
    IoDone count_down = expect_ok();
    files_[s]->sync([this, s, &data, count_down = std::move(count_down)](
                        absl::Status status) mutable {
      Stream& st = streams_[s];
      samples_.ms.push_back(ms_between(st.submitted, Clock::now()));
      count_down(std::move(status));
      if (--st.remaining > 0) submit_group(s, data);
    });
  }

  IoDone expect_ok() {
    ++pending_;
    return [this](absl::Status status) {
      --pending_;
      if (!status.ok()) die(status.ToString());
    };
  }

  void drain() {
    while (pending_ > 0) queue_.wait_and_run_one();
  }

  BlockingCompletionQueue queue_;  // first: outlives the file system
  std::unique_ptr<PosixFileSystem> fs_;
  std::unique_ptr<File> files_[kMaxStreams];
  Cursor cursors_[kMaxStreams];
  Stream streams_[kMaxStreams];
  Samples samples_;
  int64_t pending_ = 0;
};

// --- io_uring: write linked to fdatasync, one ring, reaped by this thread --------------------

// Why io_uring cannot be used here, or nothing if it can (probes the ring and the opcodes).
std::optional<std::string> uring_unavailable() {
  io_uring ring;
  const int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    const char* hint = rc == -EPERM    ? "EPERM: blocked by seccomp or kernel.io_uring_disabled"
                       : rc == -ENOSYS ? "ENOSYS: no io_uring in this kernel, or seccomp"
                                       : "unexpected";
    std::string why = absl::StrCat("io_uring_queue_init: ", std::strerror(-rc), " [errno ",
                                   -rc, ", ", hint, "]");
    std::ifstream disabled("/proc/sys/kernel/io_uring_disabled");
    int value = 0;
    if (disabled >> value) absl::StrAppend(&why, "; kernel.io_uring_disabled = ", value);
    return why;
  }
  std::optional<std::string> why;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring); probe != nullptr) {
    if (!io_uring_opcode_supported(probe, IORING_OP_WRITE) ||
        !io_uring_opcode_supported(probe, IORING_OP_FSYNC)) {
      why = "the kernel's io_uring lacks IORING_OP_WRITE or IORING_OP_FSYNC";
    }
    io_uring_free_probe(probe);
  }
  io_uring_queue_exit(&ring);
  return why;
}

class UringBench {
 public:
  UringBench() {
    const int rc = io_uring_queue_init(8, &ring_, 0);
    if (rc < 0) die_errno("io_uring_queue_init", -rc);
  }
  ~UringBench() { io_uring_queue_exit(&ring_); }
  UringBench(const UringBench&) = delete;
  UringBench& operator=(const UringBench&) = delete;

  Samples run(FdFiles& files, const Pattern& p, const std::string& data, int groups) {
    Samples out;
    Stream streams[kMaxStreams];
    const auto start = Clock::now();
    for (int s = 0; s < p.streams; ++s) {
      streams[s].remaining = groups;
      prepare_group(files, s, streams[s], data);
    }
    submit();
    int active = p.streams;
    while (active > 0) {
      const auto [s, is_sync] = reap(data.size());
      if (!is_sync) continue;
      Stream& stream = streams[s];
      out.ms.push_back(ms_between(stream.submitted, Clock::now()));
      if (--stream.remaining > 0) {
        prepare_group(files, s, stream, data);
        submit();
      } else {
        --active;
      }
    }
    out.seconds = ms_between(start, Clock::now()) / 1000;
    return out;
  }

 private:
  struct Stream {
    int remaining = 0;
    Clock::time_point submitted;
  };

  static uint64_t tag(int stream, bool is_sync) {
    return static_cast<uint64_t>(stream) * 2 + (is_sync ? 1 : 0);
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) die("io_uring submission queue full");
    return sqe;
  }

  // Queues the group's write and, linked behind it, its fdatasync (not yet submitted).
  void prepare_group(FdFiles& files, int s, Stream& stream, const std::string& data) {
    stream.submitted = Clock::now();
    const int fd = files.fds[s];
    io_uring_sqe* write = sqe();
    io_uring_prep_write(write, fd, data.data(), static_cast<unsigned>(data.size()),
                        files.cursors[s].take(data.size()));
    write->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(write, tag(s, false));
    io_uring_sqe* sync = sqe();
    io_uring_prep_fsync(sync, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sync, tag(s, true));
  }

  void submit() {
    const int rc = io_uring_submit(&ring_);
    if (rc < 0) die_errno("io_uring_submit", -rc);
  }

  // Waits for one completion; dies on an error or a short write (whose linked fsync would be
  // cancelled). Returns its stream and whether it was the sync.
  std::pair<int, bool> reap(size_t write_bytes) {
    io_uring_cqe* cqe = nullptr;
    int rc;
    while ((rc = io_uring_wait_cqe(&ring_, &cqe)) == -EINTR) {
    }
    if (rc < 0) die_errno("io_uring_wait_cqe", -rc);
    const uint64_t t = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    const bool is_sync = (t & 1) != 0;
    if (res < 0) die_errno(is_sync ? "io_uring fdatasync" : "io_uring write", -res);
    if (!is_sync && static_cast<size_t>(res) != write_bytes) {
      die(absl::StrCat("io_uring write: short write, ", res, " of ", write_bytes, " bytes"));
    }
    return {static_cast<int>(t / 2), is_sync};
  }

  io_uring ring_;
};

// --- the benchmark -------------------------------------------------------------------------

// The file system holding `dir`, by name, and whether it is memory-backed.
std::pair<std::string, bool> file_system_type(const std::string& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) die_errno(absl::StrCat("statfs ", dir), errno);
  switch (static_cast<uint64_t>(st.f_type)) {
    case 0xEF53: return {"ext2/3/4", false};
    case 0x58465342: return {"xfs", false};
    case 0x9123683E: return {"btrfs", false};
    case 0x794C7630: return {"overlayfs", false};
    case 0x01021994: return {"tmpfs", true};
    case 0x858458F6: return {"ramfs", true};
    default: return {absl::StrFormat("f_type 0x%x", static_cast<uint64_t>(st.f_type)), false};
  }
}

struct Figures {
  std::vector<double> p50, p99, gps;                    // one per rep
  std::vector<double> p50_ratio, p99_ratio, gps_ratio;  // to raw, same rep
};

class Runner {
 public:
  explicit Runner(const std::string& dir)
      : raw_files_(dir, "raw"), uring_files_(dir, "uring"), posix_(dir + "/posix") {}

  Samples run(Config c, const Pattern& p, const std::string& data, int groups) {
    switch (c) {
      case Config::kRaw: return run_raw(raw_files_, p, data, groups);
      case Config::kRawSerial: return run_raw_serial(raw_files_, p, data, groups);
      case Config::kPosixFs: return posix_.run(p, data, groups);
      case Config::kUring: return uring_.run(uring_files_, p, data, groups);
    }
    return {};
  }

 private:
  FdFiles raw_files_;
  FdFiles uring_files_;
  PosixFsBench posix_;
  UringBench uring_;
};

std::string range(const std::vector<double>& v, const char* format) {
  // Checked at run time: the format is a parameter (clang refuses the constexpr constructor).
  const std::unique_ptr<absl::ParsedFormat<'f'>> parsed = absl::ParsedFormat<'f'>::New(format);
  const absl::ParsedFormat<'f'>& f = *parsed;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return absl::StrCat(absl::StrFormat(f, median(v)), " [", absl::StrFormat(f, *lo), "..",
                      absl::StrFormat(f, *hi), "]");
}

void print_pattern(const Pattern& p, const std::map<Config, Figures>& figures) {
  std::printf("\n%d stream%s, %zu KiB groups\n", p.streams, p.streams == 1 ? "" : "s",
              p.group_bytes / 1024);
  std::printf("  %-11s %-22s %-22s %-22s %7s %7s %7s\n", "config", "p50 ms", "p99 ms",
              "groups/s", "p50/raw", "p99/raw", "gps/raw");
  for (Config c : configs_for(p)) {
    const Figures& f = figures.at(c);
    std::printf("  %-11s %-22s %-22s %-22s %7.2f %7.2f %7.2f\n", config_name(c),
                range(f.p50, "%.3f").c_str(), range(f.p99, "%.3f").c_str(),
                range(f.gps, "%.0f").c_str(), median(f.p50_ratio), median(f.p99_ratio),
                median(f.gps_ratio));
  }
}

int run(const Options& options) {
  if (auto why = uring_unavailable()) {
    std::fprintf(stderr, "walle-uring-bench: io_uring is unavailable here: %s\n", why->c_str());
    return 2;
  }
  const auto [fs_type, in_memory] = file_system_type(options.dir);
  if (in_memory) {
    std::fprintf(stderr,
                 "walle-uring-bench: WARNING: %s is on %s: fdatasync costs nothing there, the "
                 "figures say nothing about a disk\n",
                 options.dir.c_str(), fs_type.c_str());
  }
  utsname uts{};
  ::uname(&uts);
  std::printf(
      "walle-uring-bench: dir %s (%s), kernel %s\n"
      "%d reps x %d groups per stream; files of %llu MiB preallocated (zeros + fdatasync)\n"
      "figures: median across reps [min..max]; x/raw: median of per-rep ratios to raw\n",
      options.dir.c_str(), fs_type.c_str(), uts.release, options.reps, options.groups,
      static_cast<unsigned long long>(kFileBytes >> 20));
  std::fflush(stdout);

  Runner runner(options.dir);
  const std::vector<Pattern> patterns = {{1, 4096}, {1, 65536}, {2, 4096}, {2, 65536}};
  std::vector<std::map<Config, Figures>> figures(patterns.size());
  for (int rep = 0; rep < options.reps; ++rep) {
    for (size_t i = 0; i < patterns.size(); ++i) {
      const Pattern& p = patterns[i];
      const std::string data = group_data(p.group_bytes);
      std::vector<Config> order = configs_for(p);
      std::rotate(order.begin(), order.begin() + rep % static_cast<int>(order.size()),
                  order.end());
      std::map<Config, RepResult> results;
      for (Config c : order) results[c] = summarize(runner.run(c, p, data, options.groups));
      const RepResult& raw = results.at(Config::kRaw);
      for (const auto& [c, r] : results) {
        Figures& f = figures[i][c];
        f.p50.push_back(r.p50_ms);
        f.p99.push_back(r.p99_ms);
        f.gps.push_back(r.groups_per_second);
        f.p50_ratio.push_back(r.p50_ms / raw.p50_ms);
        f.p99_ratio.push_back(r.p99_ms / raw.p99_ms);
        f.gps_ratio.push_back(r.groups_per_second / raw.groups_per_second);
      }
    }
    std::fprintf(stderr, "walle-uring-bench: rep %d/%d done\n", rep + 1, options.reps);
  }
  for (size_t i = 0; i < patterns.size(); ++i) print_pattern(patterns[i], figures[i]);
  return 0;
}

}  // namespace
}  // namespace walle::disk

int main(int argc, char** argv) {
  walle::disk::Options options;
  CLI::App app{"io_uring against PosixFileSystem's I/O thread: pwrite + fdatasync groups"};
  app.add_option("dir", options.dir,
                 "directory for the benchmark files, on the disk to measure (default: a "
                 "temporary directory under the current one, removed afterwards)");
  app.add_option("--reps", options.reps, "repetitions; configurations alternate in each")
      ->check(CLI::Range(1, 1000));
  app.add_option("--groups", options.groups, "groups (write + sync) per stream and repetition")
      ->check(CLI::Range(1, 10000000));
  CLI11_PARSE(app, argc, argv);

  std::string temp_dir;
  if (options.dir.empty()) {
    std::string pattern = "./walle-uring-bench.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("walle-uring-bench: mkdtemp");
      return 1;
    }
    temp_dir = options.dir = pattern;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) {
      std::fprintf(stderr, "walle-uring-bench: mkdir %s: %s\n", options.dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  const int rc = walle::disk::run(options);
  // The benchmark removed its files; what is left is the file system's (empty) directory.
  ::rmdir((options.dir + "/posix").c_str());
  if (!temp_dir.empty()) ::rmdir(temp_dir.c_str());
  return rc;
}
