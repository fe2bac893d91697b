#pragma once

// wctl bench: a load on a running cluster through the public client library, with a live
// progress line; prints throughput and commit latency (docs/wctl.md "bench").

#include <atomic>
#include <cstdint>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "walle/client.h"

namespace walle::wctl {

struct BenchOptions {
  size_t entry_bytes = 1024;
  size_t in_flight = 64;  // per stream
  size_t streams = 1;     // the first N streams of the cluster file, one writer each
  double duration_s = 10;
  double warmup_s = 1;  // not counted in the latency figures
  bool preempt = false;
};

void add_bench_options(CLI::App& cmd, BenchOptions& options);

// Runs the load until the duration passes or `interrupted`; prints the figures on stdout
// (one JSON object with `json`) and a progress line on stderr.
absl::Status run_bench(Client& client, const BenchOptions& options, bool json,
                       const std::atomic<bool>& interrupted);

}  // namespace walle::wctl
