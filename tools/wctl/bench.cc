#include "tools/wctl/bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/walle-sim/json.h"

namespace walle::wctl {

using Clock = std::chrono::steady_clock;

void add_bench_options(CLI::App& cmd, BenchOptions& o) {
  cmd.add_option("--entry-bytes", o.entry_bytes, "bytes per entry")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{16} << 20));
  cmd.add_option("--in-flight", o.in_flight, "entries in flight per stream")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1} << 16));
  cmd.add_option("--streams", o.streams, "streams written at once (the cluster file's first N)")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{100000}));
  cmd.add_option("--duration-s", o.duration_s, "how long to write")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--warmup-s", o.warmup_s, "first seconds left out of the figures")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd.add_flag("--preempt", o.preempt, "take the streams from live writers");
}

namespace {

// One stream's load: at most `in_flight` puts outstanding; each put's commit latency.
struct StreamLoad {
  std::unique_ptr<Writer> writer;
  std::mutex mu;
  std::condition_variable room;
  size_t outstanding = 0;
  std::vector<int64_t> latencies_ns;  // of puts started after the warmup
  uint64_t committed = 0;             // after the warmup
  absl::Status failure;
};

int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[i];
}

}  // namespace

absl::Status run_bench(Client& client, const BenchOptions& o, bool json,
                       const std::atomic<bool>& interrupted) {
  const std::vector<std::string>& all = client.streams();
  if (all.size() < o.streams) {
    return absl::InvalidArgumentError(absl::StrCat("--streams ", o.streams, ", but the cluster file has ",
                                                   all.size()));
  }
  std::vector<std::unique_ptr<StreamLoad>> loads;
  for (size_t i = 0; i < o.streams; ++i) {
    ClaimOptions claim;
    claim.preempt = o.preempt;
    claim.wait = std::chrono::seconds(5);
    claim.max_in_flight_entries = o.in_flight;
    claim.max_in_flight_bytes = std::max<uint64_t>(4 << 20, o.in_flight * (o.entry_bytes + 64));
    absl::StatusOr<std::unique_ptr<Writer>> w = client.claim(all[i], claim);
    if (!w.ok()) return w.status();
    loads.push_back(std::make_unique<StreamLoad>());
    loads.back()->writer = std::move(*w);
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(o.warmup_s));
  const Clock::time_point end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(o.duration_s));
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  for (auto& load_ptr : loads) {
    StreamLoad* load = load_ptr.get();
    threads.emplace_back([load, &o, &total, &interrupted, measure_from, end] {
      uint64_t n = 0;
      while (!interrupted && Clock::now() < end) {
        {
          std::unique_lock<std::mutex> lock(load->mu);
          load->room.wait(lock, [&] { return load->outstanding < o.in_flight || !load->failure.ok(); });
          if (!load->failure.ok()) return;
          ++load->outstanding;
        }
        std::string data = absl::StrCat("bench ", n++, " ");
        data.resize(o.entry_bytes, 'x');
        const Clock::time_point t0 = Clock::now();
        const bool counted = t0 >= measure_from;
        load->writer->put(std::move(data), [load, t0, counted, &total](absl::StatusOr<uint64_t> id) {
          const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
          {
            std::lock_guard<std::mutex> lock(load->mu);
            --load->outstanding;
            if (!id.ok() && load->failure.ok()) load->failure = id.status();
            if (id.ok() && counted) {
              load->latencies_ns.push_back(ns);
              ++load->committed;
            }
          }
          if (id.ok()) total.fetch_add(1, std::memory_order_relaxed);
          load->room.notify_one();
        });
      }
      // Wait for the last puts, so every latency counted is a commit.
      std::unique_lock<std::mutex> lock(load->mu);
      load->room.wait(lock, [&] { return load->outstanding == 0; });
    });
  }

  // The progress line, once a second, on stderr (a terminal's, rewritten in place).
  const bool tty = isatty(STDERR_FILENO) != 0;
  uint64_t last = 0;
  Clock::time_point last_at = start;
  while (!interrupted && Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const Clock::time_point now = Clock::now();
    if (now - last_at < std::chrono::seconds(1)) continue;
    const uint64_t t = total.load();
    const double rate = (t - last) / std::chrono::duration<double>(now - last_at).count();
    std::fprintf(stderr, "%s[bench %4.1fs] %llu committed, %.0f entries/s, %.1f MB/s%s",
                 tty ? "\r" : "", std::chrono::duration<double>(now - start).count(),
                 static_cast<unsigned long long>(t), rate, rate * o.entry_bytes / 1e6,
                 tty ? "   " : "\n");
    last = t;
    last_at = now;
  }
  for (std::thread& t : threads) t.join();
  if (tty) std::fprintf(stderr, "\n");
  const double seconds =
      std::chrono::duration<double>(std::min(Clock::now(), end) - measure_from).count();

  std::vector<int64_t> all_ns;
  uint64_t committed = 0;
  for (auto& load : loads) {
    if (!load->failure.ok()) return load->failure;
    all_ns.insert(all_ns.end(), load->latencies_ns.begin(), load->latencies_ns.end());
    committed += load->committed;
    if (absl::Status closed = load->writer->close(); !closed.ok()) return closed;
  }
  std::sort(all_ns.begin(), all_ns.end());
  const double per_s = seconds > 0 ? committed / seconds : 0;
  const double mb_s = per_s * o.entry_bytes / 1e6;
  auto us = [](int64_t ns) { return ns / 1000.0; };
  if (json) {
    std::printf("%s\n", sim::JsonObject()
                            .add_uint("entry_bytes", o.entry_bytes)
                            .add_uint("in_flight", o.in_flight)
                            .add_uint("streams", o.streams)
                            .add_double("seconds", seconds)
                            .add_uint("entries", committed)
                            .add_double("entries_per_s", per_s)
                            .add_double("mb_per_s", mb_s)
                            .add_double("p50_us", us(percentile(all_ns, 0.50)))
                            .add_double("p99_us", us(percentile(all_ns, 0.99)))
                            .add_double("p999_us", us(percentile(all_ns, 0.999)))
                            .add_double("max_us", us(all_ns.empty() ? 0 : all_ns.back()))
                            .str()
                            .c_str());
  } else {
    std::printf("%llu entries of %zu bytes in %.1fs, %zu stream(s), %zu in flight each\n",
                static_cast<unsigned long long>(committed), o.entry_bytes, seconds, o.streams,
                o.in_flight);
    std::printf("throughput  %.0f entries/s  %.2f MB/s\n", per_s, mb_s);
    std::printf("commit latency  p50 %.0f us  p99 %.0f us  p999 %.0f us  max %.0f us\n",
                us(percentile(all_ns, 0.50)), us(percentile(all_ns, 0.99)),
                us(percentile(all_ns, 0.999)), us(all_ns.empty() ? 0 : all_ns.back()));
  }
  if (committed == 0) return absl::UnavailableError("nothing was committed during the run");
  return absl::OkStatus();
}

}  // namespace walle::wctl
