#pragma once

// A latency histogram that one thread records into and another reads: fixed buckets whose
// upper bounds double from 16 us to about 2 s (Prometheus "le" buckets), relaxed atomics, no
// locks. A reader may see a record's bucket before its sum; metrics tolerate that.

#include <array>
#include <atomic>
#include <cstdint>

namespace walle::disk {

class LatencyHistogram {
 public:
  static constexpr size_t kBuckets = 18;  // bounds 16 us * 2^i; one more for the rest
  static constexpr int64_t bound_ns(size_t i) { return int64_t{16'000} << i; }

  void record(int64_t ns) {
    size_t i = 0;
    while (i < kBuckets && ns > bound_ns(i)) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(ns < 0 ? 0 : ns), std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<uint64_t, kBuckets + 1> counts{};  // per bucket (not cumulative); last: above
    uint64_t sum_ns = 0;
    uint64_t count() const {
      uint64_t n = 0;
      for (uint64_t c : counts) n += c;
      return n;
    }
    // The bound of the bucket holding the q-quantile (0 < q <= 1), or -1 when empty or
    // beyond the last bound.
    int64_t quantile_bound_ns(double q) const {
      const uint64_t n = count();
      if (n == 0) return -1;
      const double want = q * static_cast<double>(n);
      uint64_t seen = 0;
      for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts[i];
        if (static_cast<double>(seen) >= want) return bound_ns(i);
      }
      return -1;
    }
  };
  Snapshot snapshot() const {
    Snapshot s;
    for (size_t i = 0; i <= kBuckets; ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace walle::disk
