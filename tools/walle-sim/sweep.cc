#include "tools/walle-sim/sweep.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/util/check.h"
#include "tools/walle-sim/results.h"

// The sweep runner is a tool around the simulator, not part of it: it may use processes,
// pipes and the wall clock (for progress and throughput only; never inside a run).

namespace walle::sim {
namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

// One finished seed, as a worker reports it on its pipe: a single line of tab-separated fields.
struct SeedReport {
  uint64_t seed = 0;
  bool ok = false;
  uint64_t digest = 0;
  uint64_t events = 0;
  int64_t simulated_ns = 0;
  uint64_t messages = 0;
  uint64_t disk_writes = 0;
  std::string error;
  std::string setup;
  std::array<uint64_t, kCoveragePaths> coverage{};  // paths taken (core/env/coverage.h)
  bool crashed = false;  // set by the parent for the seed a worker died in; not on the pipe
};

// What the results file and the FAIL lines say about a seed (verdict and mismatch aside).
SeedResult seed_result(const SeedReport& r, const std::string& repro) {
  SeedResult result;
  result.seed = r.seed;
  // A failure must say something: an empty invariant means the seed passed.
  result.invariant = r.ok ? "" : r.error.empty() ? "failed (no message)" : r.error;
  result.setup = r.setup;
  result.digest = r.digest;
  result.events = r.events;
  result.simulated_ns = r.simulated_ns;
  result.messages = r.messages;
  result.disk_writes = r.disk_writes;
  result.coverage = r.coverage;
  result.repro = repro;
  return result;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return text;
}

std::string format_report(const SeedReport& r) {
  return absl::StrCat(r.seed, "\t", r.ok ? 1 : 0, "\t", r.digest, "\t", r.events, "\t",
                      r.simulated_ns, "\t", r.messages, "\t", r.disk_writes, "\t",
                      one_line(r.error), "\t", one_line(r.setup), "\t",
                      absl::StrJoin(r.coverage, ","), "\n");
}

bool parse_report(std::string_view line, SeedReport& r) {
  // This abseil's string_view is its own type, not std::string_view.
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(line.data(), line.size()), '\t');
  if (f.size() != 10) return false;
  int ok = 0;
  if (!absl::SimpleAtoi(f[0], &r.seed) || !absl::SimpleAtoi(f[1], &ok) ||
      !absl::SimpleAtoi(f[2], &r.digest) || !absl::SimpleAtoi(f[3], &r.events) ||
      !absl::SimpleAtoi(f[4], &r.simulated_ns) || !absl::SimpleAtoi(f[5], &r.messages) ||
      !absl::SimpleAtoi(f[6], &r.disk_writes)) {
    return false;
  }
  r.ok = ok == 1;
  r.error = std::string(f[7]);
  r.setup = std::string(f[8]);
  std::vector<absl::string_view> counts = absl::StrSplit(f[9], ',');
  if (counts.size() != kCoveragePaths) return false;
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    if (!absl::SimpleAtoi(counts[i], &r.coverage[i])) return false;
  }
  return true;
}

// Before a seed runs in this process: a failed check names it (and --trip-check-at-seed).
void start_seed(const SweepOptions& options, uint64_t seed) {
  set_seed_check_context(options.workload, seed, options.params);
  WALLE_CHECK_MSG(seed != options.trip_check_seed || seed == 0,
                  "tripped on purpose (--trip-check-at-seed)");
}

SeedReport run_one(Workload& workload, const SweepOptions& options, uint64_t seed) {
  start_seed(options, seed);
  RunOptions run;
  run.seed = seed;
  run.params = options.params;
  SeedReport report;
  report.seed = seed;
  absl::StatusOr<RunResult> result = workload.run(run);
  if (!result.ok()) {
    report.error = result.status().ToString();
    return report;
  }
  report.ok = result->status.ok();
  report.digest = result->digest;
  report.events = result->events;
  report.simulated_ns = result->simulated_ns;
  report.messages = result->stats.messages_sent;
  report.disk_writes = result->stats.disk_writes;
  report.coverage = result->stats.coverage;
  report.error = result->status.ok() ? "" : std::string(result->status.message());
  report.setup = result->setup;
  return report;
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A worker runs its share of the tasks and reports each on `fd`. Never returns.
[[noreturn]] void worker_main(Workload& workload, const SweepOptions& options,
                              const std::vector<uint64_t>& seeds, size_t from, int fd) {
  ::signal(SIGINT, SIG_IGN);  // the parent decides when to stop
  for (size_t i = from; i < seeds.size(); ++i) {
    if (!write_all(fd, format_report(run_one(workload, options, seeds[i])))) break;
  }
  ::close(fd);
  ::_exit(0);
}

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const int64_t s = static_cast<int64_t>(seconds);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

// Forks a child that reports through a new pipe. In the child it returns 0 and `fd` is the
// pipe's write end; in the parent, the child's pid and `fd` the read end. (Output is flushed
// first, so the child does not print the parent's buffered lines again.)
absl::StatusOr<pid_t> fork_with_pipe(int& fd) {
  int fds[2];
  if (::pipe(fds) != 0) return absl::InternalError("pipe() failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return absl::InternalError("fork() failed");
  }
  ::close(pid == 0 ? fds[0] : fds[1]);
  fd = pid == 0 ? fds[1] : fds[0];
  return pid;
}

// Runs the first seed to see that the workload accepts the parameters, in a child process:
// a seed that trips a WALLE_CHECK must fail as that seed, in a worker, not end the sweep.
absl::Status probe_params(Workload& workload, const SweepOptions& options) {
  int fd = -1;
  const absl::StatusOr<pid_t> forked = fork_with_pipe(fd);
  if (!forked.ok()) return forked.status();
  const pid_t pid = *forked;
  if (pid == 0) {
    // Quiet: if the seed dies, its worker prints why.
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
    RunOptions probe;
    probe.seed = options.first_seed;
    probe.params = options.params;
    start_seed(options, probe.seed);
    absl::StatusOr<RunResult> first = workload.run(probe);
    if (!first.ok()) {
      // The code, a tab, the message.
      write_all(fd, absl::StrCat(static_cast<int>(first.status().code()), "\t",
                                     first.status().message()));
    }
    ::close(fd);
    ::_exit(0);
  }
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  ::waitpid(pid, nullptr, 0);
  // Nothing written: the parameters are good (the probe passed, failed a checker, or died
  // inside the seed, which its worker will report).
  const size_t tab = reply.find('\t');
  if (tab == std::string::npos) return absl::OkStatus();
  int code = static_cast<int>(absl::StatusCode::kUnknown);
  (void)absl::SimpleAtoi(reply.substr(0, tab), &code);
  return absl::Status(static_cast<absl::StatusCode>(code), reply.substr(tab + 1));
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  size_t next = 0;  // index in its share of the next seed it will report
  std::string buffer;
};

}  // namespace

absl::Status parse_seed_range(const std::string& text, uint64_t& first, uint64_t& last) {
  std::vector<std::string> parts = absl::StrSplit(text, "..");
  bool ok = false;
  if (parts.size() == 1) {
    ok = absl::SimpleAtoi(parts[0], &first);
    last = first;
  } else if (parts.size() == 2) {
    ok = absl::SimpleAtoi(parts[0], &first) && absl::SimpleAtoi(parts[1], &last);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("seed range '", text, "' is not of the form A..B (e.g. 1..100000)"));
  }
  if (last < first) {
    return absl::InvalidArgumentError(absl::StrCat("seed range '", text, "' is empty (B < A)"));
  }
  return absl::OkStatus();
}

void print_coverage(const SweepSummary& summary, FILE* out) {
  std::fprintf(out, "coverage (paths taken; 0: no checker ever judged that path):\n");
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    std::fprintf(out, "  %-30s %10llu times in %8llu seeds%s\n", kCoveragePathNames[i],
                 static_cast<unsigned long long>(summary.coverage[i]),
                 static_cast<unsigned long long>(summary.coverage_seeds[i]),
                 summary.coverage[i] == 0 ? "   NEVER" : "");
  }
}

std::vector<std::string> uncovered_paths(const SweepSummary& summary,
                                         const std::vector<std::string>& exempt) {
  std::vector<std::string> out;
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    if (summary.coverage[i] > 0) continue;
    if (std::find(exempt.begin(), exempt.end(), kCoveragePathNames[i]) != exempt.end()) continue;
    out.push_back(kCoveragePathNames[i]);
  }
  return out;
}

void print_uncovered(const std::vector<std::string>& missed, FILE* out) {
  if (missed.empty()) return;
  std::fprintf(out, "coverage: never taken: %s\n", absl::StrJoin(missed, ", ").c_str());
}

std::string repro_command(const std::string& workload, uint64_t seed,
                          const absl::btree_map<std::string, std::string>& params) {
  std::string cmd = absl::StrCat("walle-sim run --workload ", workload, " --seed ", seed);
  for (const auto& [key, value] : params) absl::StrAppend(&cmd, " --param ", key, "=", value);
  return absl::StrCat(cmd, " --trace");
}

void set_seed_check_context(const std::string& workload, uint64_t seed,
                            const absl::btree_map<std::string, std::string>& params) {
  walle::internal::set_check_failure_context(
      absl::StrCat("FAIL seed=", seed, " workload=", workload),
      repro_command(workload, seed, params));
}

absl::StatusOr<SweepSummary> run_sweep(const SweepOptions& options) {
  absl::StatusOr<Workload*> workload = builtin_workloads().find(options.workload);
  if (!workload.ok()) return workload.status();
  if (options.jobs < 1 || options.jobs > 256) {
    return absl::InvalidArgumentError(absl::StrCat("--jobs=", options.jobs, " must be in 1..256"));
  }
  // Reject bad parameters once, up front, rather than once per seed.
  if (absl::Status s = probe_params(**workload, options); !s.ok()) return s;

  uint64_t from = options.first_seed;
  if (options.resume && !options.state_path.empty()) {
    std::ifstream state(options.state_path);
    uint64_t done_through = 0;
    if (state >> done_through && done_through >= from) {
      from = done_through + 1;
      std::fprintf(stderr, "resuming after seed %llu (from %s)\n",
                   static_cast<unsigned long long>(done_through), options.state_path.c_str());
    }
  }
  const SeedSequence seeds =
      shard_seeds(options.first_seed, options.last_seed, options.shard, from);

  // With the JSON lines on stdout, what is printed for people goes to stderr.
  const bool json_to_stdout = options.json_path == "-";
  FILE* const out = json_to_stdout ? stderr : stdout;
  FILE* json = nullptr;
  if (json_to_stdout) {
    json = stdout;
  } else if (!options.json_path.empty()) {
    json = std::fopen(options.json_path.c_str(), options.resume ? "a" : "w");
    if (json == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--json: cannot write ", options.json_path, ": ", std::strerror(errno)));
    }
  }
  SweepRecord record;
  record.workload = options.workload;
  record.params = options.params;
  record.first_seed = options.first_seed;
  record.last_seed = options.last_seed;
  record.shard = options.shard;
  record.check_determinism = options.check_determinism;
  record.jobs = options.jobs;
  SweepSummary& summary = record.summary;
  // The summary line ends the file; a file without one is from a sweep that did not finish.
  auto close_json = [&] {
    if (json == nullptr) return;
    std::fprintf(json, "%s\n", sweep_json(record).c_str());
    if (json != stdout) std::fclose(json);
    std::fflush(stdout);
  };

  if (seeds.count == 0) {
    if (from > options.first_seed) {
      std::fprintf(stderr, "nothing to do: every seed through %llu is done\n",
                   static_cast<unsigned long long>(options.last_seed));
    } else {
      std::fprintf(stderr, "nothing to do: shard %s of %llu..%llu has no seeds\n",
                   shard_name(options.shard).c_str(),
                   static_cast<unsigned long long>(options.first_seed),
                   static_cast<unsigned long long>(options.last_seed));
    }
    close_json();
    return summary;
  }
  const uint64_t count = seeds.count;
  const int replicas = options.check_determinism ? 2 : 1;
  const int jobs = std::max(options.jobs, replicas);

  // Seed i's replica r runs on worker (i + r) % jobs: with two replicas, two different
  // processes, each with its own hash seeds and address layout.
  std::vector<std::vector<uint64_t>> shares(jobs);
  for (uint64_t i = 0; i < count; ++i) {
    for (int r = 0; r < replicas; ++r) shares[(i + r) % jobs].push_back(seeds.at(i));
  }

  std::vector<Worker> workers(jobs);
  // Starts (or restarts, after a crash) worker w at position workers[w].next of its share.
  auto spawn = [&](int w) -> absl::Status {
    int fd = -1;
    const absl::StatusOr<pid_t> pid = fork_with_pipe(fd);
    if (!pid.ok()) return pid.status();
    if (*pid == 0) {
      for (const Worker& other : workers) {
        if (other.fd >= 0) ::close(other.fd);
      }
      worker_main(**workload, options, shares[w], workers[w].next, fd);
    }
    workers[w].pid = *pid;
    workers[w].fd = fd;
    workers[w].buffer.clear();
    return absl::OkStatus();
  };
  for (int w = 0; w < jobs; ++w) {
    if (absl::Status s = spawn(w); !s.ok()) return s;
  }

  struct sigaction action = {};
  action.sa_handler = on_interrupt;
  struct sigaction previous = {};
  ::sigaction(SIGINT, &action, &previous);
  g_interrupted = 0;

  FILE* failures = nullptr;
  const bool tty = ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  std::vector<uint8_t> replicas_seen(count, 0);
  std::vector<uint64_t> first_digest(count, 0);
  uint64_t done_prefix = 0;  // seeds.at(i) is finished for every i below this
  int open_pipes = jobs;

  auto elapsed_s = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Every seed <= this is finished (or belongs to another shard).
  auto done_through = [&] { return done_prefix > 0 ? seeds.at(done_prefix - 1) : from - 1; };
  auto save_state = [&] {
    if (options.state_path.empty()) return;
    std::ofstream(options.state_path) << done_through() << "\n";
  };
  auto progress = [&](bool final_line) {
    const double secs = std::max(elapsed_s(), 1e-9);
    const double rate = summary.seeds_done / secs;
    const double eta = rate > 0 ? (count - summary.seeds_done) / rate : -1;
    const std::string line =
        absl::StrFormat("[sweep %s] %d/%d seeds  %.0f seeds/s  failures %d  elapsed %s  ETA %s",
                        options.workload, summary.seeds_done, count, rate, summary.failures,
                        format_duration(secs), final_line ? "0s" : format_duration(eta));
    if (tty) {
      std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final_line ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  auto handle = [&](const SeedReport& r) {
    const uint64_t index = seeds.index_of(r.seed);
    const std::string repro = repro_command(options.workload, r.seed, options.params);
    bool mismatch = false;
    if (replicas_seen[index] == 0) {
      first_digest[index] = r.digest;
    } else if (first_digest[index] != r.digest) {
      mismatch = true;
      print_nondeterminism(out, r.seed, first_digest[index], r.digest, repro);
    }
    if (++replicas_seen[index] < replicas) return;
    SeedResult result = seed_result(r, repro);
    if (mismatch) result.other_digest = first_digest[index];
    result.verdict = verdict_of(r.crashed, mismatch, result.failed());
    add_seed(summary, result);
    if (result.failed()) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      print_failure(out, options.workload, result);
      std::fflush(out);
      if (failures == nullptr) failures = std::fopen(options.failures_path.c_str(), "a");
      if (failures != nullptr) {
        std::fprintf(failures, "%llu\t%s\t%s\n", static_cast<unsigned long long>(r.seed),
                     r.error.c_str(), repro.c_str());
        std::fflush(failures);
      }
    }
    if (json != nullptr) std::fprintf(json, "%s\n", seed_json(result).c_str());
    while (done_prefix < count && replicas_seen[done_prefix] >= replicas) ++done_prefix;
  };

  std::vector<pollfd> fds(jobs);
  while (open_pipes > 0 && !g_interrupted &&
         !(options.stop_on_first && summary.failures + summary.determinism_mismatches > 0)) {
    for (int w = 0; w < jobs; ++w) fds[w] = pollfd{workers[w].fd, POLLIN, 0};
    const int ready = ::poll(fds.data(), fds.size(), 250);
    if (ready < 0 && errno != EINTR) return absl::InternalError("poll() failed");
    for (int w = 0; w < jobs && ready > 0; ++w) {
      if (workers[w].fd < 0 || (fds[w].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(workers[w].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(workers[w].fd);
        workers[w].fd = -1;
        int status = 0;
        ::waitpid(workers[w].pid, &status, 0);
        workers[w].pid = -1;
        if (workers[w].next < shares[w].size()) {
          // The worker died inside a seed (a WALLE_CHECK or sanitizer abort): that seed
          // failed; a new worker carries on with the rest of the share.
          SeedReport crashed;
          crashed.seed = shares[w][workers[w].next++];
          crashed.crashed = true;
          crashed.error = absl::StrCat("the process died running this seed (exit status ", status,
                                       "); see its output with the repro command");
          handle(crashed);
          if (workers[w].next < shares[w].size()) {
            if (absl::Status s = spawn(w); !s.ok()) return s;
            continue;
          }
        }
        --open_pipes;
        continue;
      }
      workers[w].buffer.append(buf, static_cast<size_t>(n));
      size_t newline;
      while ((newline = workers[w].buffer.find('\n')) != std::string::npos) {
        SeedReport report;
        if (parse_report(std::string_view(workers[w].buffer).substr(0, newline), report)) {
          ++workers[w].next;
          handle(report);
        }
        workers[w].buffer.erase(0, newline + 1);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress > std::chrono::milliseconds(tty ? 250 : 5000)) {
      last_progress = now;
      progress(false);
      save_state();
      if (json != nullptr) std::fflush(json);
    }
  }

  summary.interrupted = g_interrupted || open_pipes > 0;
  for (Worker& w : workers) {
    if (w.fd >= 0) ::close(w.fd);
    if (w.pid > 0) {
      ::kill(w.pid, SIGKILL);
      ::waitpid(w.pid, nullptr, 0);
    }
  }
  ::sigaction(SIGINT, &previous, nullptr);
  if (failures != nullptr) std::fclose(failures);
  save_state();
  progress(true);

  const double secs = std::max(elapsed_s(), 1e-9);
  summary.wall_s = secs;
  const double simulated_s = summary.simulated_ns / 1e9;
  const double done = static_cast<double>(summary.seeds_done);
  std::fprintf(
      out,
      "%s: %llu seeds, %llu failures%s in %.1fs wall: %.0f seeds/s, %.2fM events/s, "
      "%.0f simulated s per wall s; per seed %.1f simulated s, %.0f events, %.0f messages, %.0f "
      "disk writes\n",
      g_interrupted         ? "interrupted"
      : summary.interrupted ? "stopped at the first failure"
                            : "done",
      static_cast<unsigned long long>(summary.seeds_done),
      static_cast<unsigned long long>(summary.failures),
      options.check_determinism
          ? absl::StrFormat(", %d determinism mismatches", summary.determinism_mismatches).c_str()
          : "",
      secs, done / secs, summary.events / secs / 1e6, simulated_s / secs,
      done > 0 ? simulated_s / done : 0.0, done > 0 ? summary.events / done : 0.0,
      done > 0 ? summary.messages / done : 0.0, done > 0 ? summary.disk_writes / done : 0.0);
  if (summary.interrupted) {
    // The rest of this shard is shard 0 of the same count over the seeds still to do.
    const std::string shard =
        options.shard.count > 1 ? absl::StrCat(" --shard 0/", options.shard.count) : "";
    std::fprintf(out, "resume with: --seeds %llu..%llu%s (or --resume with --state)\n",
                 static_cast<unsigned long long>(seeds.at(done_prefix)),
                 static_cast<unsigned long long>(options.last_seed), shard.c_str());
  }
  if (summary.failures > 0) {
    std::fprintf(out, "failing seeds appended to %s\n", options.failures_path.c_str());
  }
  if (options.print_coverage) print_coverage(summary, out);
  std::fflush(out);
  close_json();
  return summary;
}

}  // namespace walle::sim
