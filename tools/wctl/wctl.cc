// wctl: the operator's and scripter's command line for a WALLE cluster, built on the public
// client library (include/walle/client.h) only (docs/wctl.md).
//
// Exit status: 0 done; 1 a protocol error (fenced, refused, data that does not chain);
// 2 bad usage; 3 the cluster is unreachable (no majority answered in time).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/walle-sim/json.h"
#include "tools/wctl/bench.h"
#include "walle/client.h"

namespace walle::wctl {
namespace {

using sim::JsonObject;
using sim::json_quote;

constexpr int kExitProtocol = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

std::atomic<bool> g_interrupted{false};

int exit_code_for(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound: return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return kExitUnreachable;
    default: return kExitProtocol;
  }
}

// Prints `status` as wctl's error and returns the exit code it maps to.
int report(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wctl %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  if (exit_code_for(status) == kExitUnreachable) {
    std::fprintf(stderr, "  (is the cluster up? check the servers in the cluster file)\n");
  }
  return exit_code_for(status);
}

// The cluster or secret file could not be used: always bad usage, whatever the file error.
int report_setup(const std::string& what, const absl::Status& status) {
  std::fprintf(stderr, "wctl %s: %s\n", what.c_str(), std::string(status.message()).c_str());
  return kExitUsage;
}

struct Global {
  std::string cluster_file;
  std::string secret_file;
  bool json = false;
};

absl::StatusOr<std::unique_ptr<Client>> connect(const Global& g) {
  ClientOptions options;
  options.cluster_file = g.cluster_file;
  options.secret_file = g.secret_file;
  return Client::connect(std::move(options));
}

std::string lease_text(std::chrono::milliseconds left) {
  if (left.count() <= 0) return "expired";
  return absl::StrFormat("%.1fs", left.count() / 1000.0);
}

// --- status

int run_status(const Global& g, std::vector<std::string> streams) {
  absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
  if (!client.ok()) return report_setup("status", client.status());
  if (streams.empty()) streams = (*client)->streams();
  int worst = 0;
  for (const std::string& stream : streams) {
    absl::StatusOr<StreamStatus> s = (*client)->status(stream);
    if (!s.ok()) {
      worst = std::max(worst, report(absl::StrCat("status ", stream), s.status()));
      continue;
    }
    if (g.json) {
      std::string members = "[";
      for (const MemberStatus& m : s->members) {
        JsonObject o;
        o.add_uint("server", m.server)
            .add_bool("answered", m.status.ok())
            .add_string("error", m.status.ok() ? "" : std::string(m.status.message()))
            .add_string("writer", m.writer)
            .add_int("lease_left_ms", m.lease_left.count())
            .add_uint("committed_id", m.committed_id)
            .add_uint("tail_id", m.tail_id)
            .add_uint("lag", s->committed_id - std::min(s->committed_id, m.committed_id))
            .add_string("damage", m.damage);
        members += (members.size() > 1 ? "," : "") + o.str();
      }
      members += "]";
      std::printf("%s\n", JsonObject()
                              .add_string("stream", s->stream)
                              .add_string("writer", s->writer)
                              .add_int("lease_left_ms", s->lease_left.count())
                              .add_uint("committed_id", s->committed_id)
                              .add_raw("members", members)
                              .str()
                              .c_str());
      continue;
    }
    std::printf("stream %s  writer %s  lease %s  committed %llu\n", s->stream.c_str(),
                s->writer.empty() ? "none" : s->writer.c_str(), lease_text(s->lease_left).c_str(),
                static_cast<unsigned long long>(s->committed_id));
    std::printf("  %-7s %-10s %-22s %-9s %10s %10s %6s  %s\n", "SERVER", "STATE", "WRITER",
                "LEASE", "COMMITTED", "TAIL", "LAG", "DAMAGE");
    for (const MemberStatus& m : s->members) {
      if (!m.status.ok()) {
        const bool silent = m.status.code() == absl::StatusCode::kDeadlineExceeded;
        std::printf("  %-7u %-10s %s\n", m.server, silent ? "no answer" : "error",
                    silent ? "" : std::string(m.status.message()).c_str());
        continue;
      }
      std::printf("  %-7u %-10s %-22s %-9s %10llu %10llu %6llu  %s\n", m.server, "up",
                  m.writer.empty() ? "none" : m.writer.c_str(), lease_text(m.lease_left).c_str(),
                  static_cast<unsigned long long>(m.committed_id),
                  static_cast<unsigned long long>(m.tail_id),
                  static_cast<unsigned long long>(s->committed_id -
                                                  std::min(s->committed_id, m.committed_id)),
                  m.damage.c_str());
    }
  }
  return worst;
}

// --- claim and put

struct ClaimFlags {
  int64_t lease_ms = 1000;
  bool preempt = false;
  int64_t wait_ms = 5000;
};

ClaimOptions claim_options(const ClaimFlags& f) {
  ClaimOptions o;
  o.lease = std::chrono::milliseconds(f.lease_ms);
  o.preempt = f.preempt;
  o.wait = std::chrono::milliseconds(f.wait_ms);
  return o;
}

int run_claim(const Global& g, const std::string& stream, const ClaimFlags& flags,
              double hold_s) {
  absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
  if (!client.ok()) return report_setup("claim", client.status());
  absl::StatusOr<std::unique_ptr<Writer>> writer = (*client)->claim(stream, claim_options(flags));
  if (!writer.ok()) return report("claim", writer.status());
  const uint64_t tail = (*writer)->committed_id();
  if (g.json) {
    std::printf("%s\n", JsonObject().add_string("stream", stream).add_uint("tail_id", tail).str().c_str());
  } else {
    std::printf("claimed %s: the stream continues after entry %llu\n", stream.c_str(),
                static_cast<unsigned long long>(tail));
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(hold_s);
  while (std::chrono::steady_clock::now() < until && !g_interrupted && (*writer)->status().ok()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // heartbeats run meanwhile
  }
  const absl::Status closed = (*writer)->close();
  if (!closed.ok()) return report("claim", closed);
  if (!g.json) std::printf("released %s\n", stream.c_str());
  return 0;
}

int run_put(const Global& g, const std::string& stream, std::vector<std::string> entries,
            bool whole, const ClaimFlags& flags) {
  if (entries.empty()) {
    if (whole) {
      entries.emplace_back(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      for (std::string line; std::getline(std::cin, line);) entries.push_back(line);
    }
  }
  if (entries.empty()) return report("put", absl::InvalidArgumentError("nothing to put"));
  absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
  if (!client.ok()) return report_setup("put", client.status());
  absl::StatusOr<std::unique_ptr<Writer>> writer = (*client)->claim(stream, claim_options(flags));
  if (!writer.ok()) return report("put", writer.status());
  std::vector<std::future<absl::StatusOr<uint64_t>>> puts;
  puts.reserve(entries.size());
  for (std::string& e : entries) puts.push_back((*writer)->put(std::move(e)));
  uint64_t first = 0;
  uint64_t last = 0;
  for (auto& p : puts) {
    absl::StatusOr<uint64_t> id = p.get();
    if (!id.ok()) return report("put", id.status());
    if (first == 0) first = *id;
    last = *id;
  }
  const absl::Status closed = (*writer)->close();
  if (!closed.ok()) return report("put", closed);
  if (g.json) {
    std::printf("%s\n", JsonObject()
                            .add_string("stream", stream)
                            .add_uint("entries", puts.size())
                            .add_uint("first_id", first)
                            .add_uint("last_id", last)
                            .str()
                            .c_str());
  } else {
    std::printf("committed %zu entries to %s: ids %llu..%llu\n", puts.size(), stream.c_str(),
                static_cast<unsigned long long>(first), static_cast<unsigned long long>(last));
  }
  return 0;
}

// --- read and tail

void print_entry(const Global& g, const CommittedEntry& e) {
  if (g.json) {
    std::printf("%s\n", JsonObject()
                            .add_uint("id", e.id)
                            .add_string("checksum", absl::StrFormat("%016x", e.checksum))
                            .add_string("data", e.data)
                            .str()
                            .c_str());
  } else {
    std::printf("%llu\t%s\n", static_cast<unsigned long long>(e.id), e.data.c_str());
  }
  std::fflush(stdout);
}

// Entries [from, to] (to 0: up to the commit point at the start), or from `from` on, following
// new commits until interrupted.
int run_read(const Global& g, const std::string& stream, uint64_t from, uint64_t to,
             bool follow, int64_t timeout_ms) {
  const std::string what = follow ? "tail" : "read";
  absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
  if (!client.ok()) return report_setup(what, client.status());
  if (from == 0 || to == 0) {
    absl::StatusOr<StreamStatus> s = (*client)->status(stream);
    if (!s.ok()) return report(what, s.status());
    if (from == 0) from = s->committed_id + 1;  // tail: what is committed from now on
    if (to == 0) to = s->committed_id;
  }
  if (!follow && to < from) return 0;  // nothing committed in the range
  absl::StatusOr<std::unique_ptr<Reader>> reader = (*client)->read(stream, from);
  if (!reader.ok()) return report(what, reader.status());
  const auto step = std::chrono::milliseconds(200);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!g_interrupted && (follow || (*reader)->next_id() <= to)) {
    absl::StatusOr<CommittedEntry> e = (*reader)->next(step);
    if (e.ok()) {
      print_entry(g, *e);
      deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      continue;
    }
    if (e.status().code() != absl::StatusCode::kDeadlineExceeded &&
        e.status().code() != absl::StatusCode::kUnavailable) {
      return report(what, e.status());
    }
    if (!follow && std::chrono::steady_clock::now() >= deadline) {
      // Members answered with nothing, or not at all: which one decides the exit status.
      const absl::StatusCode code = e.status().code() == absl::StatusCode::kUnavailable
                                        ? absl::StatusCode::kUnavailable
                                        : absl::StatusCode::kOutOfRange;
      return report(what, absl::Status(code, absl::StrCat("entry ", (*reader)->next_id(),
                                                          " was not committed within ",
                                                          timeout_ms, " ms")));
    }
  }
  return 0;
}

// Without -f: the last 10 committed entries (or from `from`), like tail(1).
int run_tail_last(const Global& g, const std::string& stream, uint64_t from, int64_t timeout_ms) {
  if (from == 0) {
    absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
    if (!client.ok()) return report_setup("tail", client.status());
    absl::StatusOr<StreamStatus> s = (*client)->status(stream);
    if (!s.ok()) return report("tail", s.status());
    from = s->committed_id > 10 ? s->committed_id - 9 : 1;
  }
  return run_read(g, stream, from, 0, /*follow=*/false, timeout_ms);
}

int run(int argc, char** argv) {
  // Line by line, also into a pipe or a file: a script (or a test) follows progress as it happens.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Global g;
  const char* env_cluster = std::getenv("WALLE_CLUSTER_FILE");
  const char* env_secret = std::getenv("WALLE_SECRET_FILE");
  g.cluster_file = env_cluster != nullptr ? env_cluster : "cluster";
  g.secret_file = env_secret != nullptr ? env_secret : "secret";

  CLI::App app{"wctl: the command line for a WALLE cluster (docs/wctl.md).\n"
               "Exit status: 0 done, 1 protocol error, 2 bad usage, 3 cluster unreachable."};
  app.require_subcommand(1);
  app.fallthrough();  // the global options also after the command: wctl status --json
  app.add_option("--cluster-file", g.cluster_file,
                 "the cluster file the servers use ($WALLE_CLUSTER_FILE)")
      ->capture_default_str();
  app.add_option("--secret-file", g.secret_file, "the cluster secret ($WALLE_SECRET_FILE)")
      ->capture_default_str();
  app.add_flag("--json", g.json, "one JSON object per line instead of tables and text");

  std::vector<std::string> status_streams;
  CLI::App* status = app.add_subcommand("status", "servers and streams at a glance");
  status->add_option("streams", status_streams, "streams to show (default: all)");

  ClaimFlags claim_flags;
  auto add_claim_flags = [&claim_flags](CLI::App* cmd) {
    cmd->add_option("--lease-ms", claim_flags.lease_ms, "the writer's lease")->capture_default_str();
    cmd->add_flag("--preempt", claim_flags.preempt, "take the stream from a live writer");
    cmd->add_option("--wait-ms", claim_flags.wait_ms,
                    "wait this long for another writer's lease to run out")
        ->capture_default_str();
  };
  std::string stream;
  double hold_s = 0;
  CLI::App* claim = app.add_subcommand("claim", "become a stream's writer, then let it go");
  claim->add_option("stream", stream)->required();
  claim->add_option("--hold-s", hold_s, "keep the claim (heartbeating) this long")->capture_default_str();
  add_claim_flags(claim);

  std::vector<std::string> entries;
  bool whole = false;
  CLI::App* put = app.add_subcommand(
      "put", "append entries: the arguments, else stdin (one entry per line, or --whole)");
  put->add_option("stream", stream)->required();
  put->add_option("entries", entries, "entries to append, in order");
  put->add_flag("--whole", whole, "stdin is one entry");
  add_claim_flags(put);

  uint64_t from = 1;
  uint64_t to = 0;
  int64_t timeout_ms = 5000;
  CLI::App* read = app.add_subcommand("read", "print committed entries, id<TAB>data per line");
  read->add_option("stream", stream)->required();
  read->add_option("--from", from, "first id")->capture_default_str();
  read->add_option("--to", to, "last id (default: the commit point now)");
  read->add_option("--timeout-ms", timeout_ms, "give up when an entry takes longer")
      ->capture_default_str();

  bool follow = false;
  uint64_t tail_from = 0;
  CLI::App* tail = app.add_subcommand(
      "tail", "print the last 10 committed entries; with -f, follow new commits until Ctrl-C");
  tail->add_option("stream", stream)->required();
  tail->add_flag("-f,--follow", follow, "keep printing entries as they are committed");
  tail->add_option("--from", tail_from,
                   "first id (default: the last 10 entries; with -f, the next one committed)");

  BenchOptions bench_options;
  CLI::App* bench = app.add_subcommand("bench", "load a running cluster, print throughput and latency");
  add_bench_options(*bench, bench_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });

  if (*status) return run_status(g, status_streams);
  if (*claim) return run_claim(g, stream, claim_flags, hold_s);
  if (*put) return run_put(g, stream, std::move(entries), whole, claim_flags);
  if (*read) return run_read(g, stream, from, to, /*follow=*/false, timeout_ms);
  if (*tail && follow) return run_read(g, stream, tail_from, 0, /*follow=*/true, timeout_ms);
  if (*tail) return run_tail_last(g, stream, tail_from, timeout_ms);
  if (*bench) {
    absl::StatusOr<std::unique_ptr<Client>> client = connect(g);
    if (!client.ok()) return report_setup("bench", client.status());
    const absl::Status done = run_bench(**client, bench_options, g.json, g_interrupted);
    return done.ok() ? 0 : report("bench", done);
  }
  return kExitUsage;
}

}  // namespace
}  // namespace walle::wctl

int main(int argc, char** argv) { return walle::wctl::run(argc, argv); }
