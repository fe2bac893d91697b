#pragma once

// Writes the Prometheus text exposition format (version 0.0.4): one # HELP and # TYPE per
// family, then its samples. Label values are escaped; names are the caller's constants.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "disk/latency_histogram.h"

namespace walle::runtime {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class MetricsText {
 public:
  // type: "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A whole histogram family (in seconds) from a latency snapshot.
  void histogram(std::string_view name, std::string_view help,
                 const disk::LatencyHistogram::Snapshot& snapshot);
  std::string take() { return std::move(out_); }

 private:
  void labels(const Labels& labels);
  std::string out_;
};

}  // namespace walle::runtime
