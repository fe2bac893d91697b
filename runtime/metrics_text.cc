#include "runtime/metrics_text.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace walle::runtime {
namespace {

std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers (most samples) print exactly, without an exponent.
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrCat(value);
}

}  // namespace

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  absl::StrAppend(&out_, "# HELP ", std::string(name), " ", std::string(help), "\n# TYPE ",
                  std::string(name), " ", std::string(type), "\n");
}

void MetricsText::labels(const Labels& labels) {
  if (labels.empty()) return;
  out_ += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out_, i == 0 ? "" : ",", std::string(labels[i].first), "=\"",
                    escape(labels[i].second), "\"");
  }
  out_ += '}';
}

void MetricsText::sample(std::string_view name, const Labels& l, double value) {
  out_ += name;
  labels(l);
  absl::StrAppend(&out_, " ", number(value), "\n");
}

void MetricsText::histogram(std::string_view name, std::string_view help,
                               const disk::LatencyHistogram::Snapshot& snapshot) {
  family(name, "histogram", help);
  const std::string bucket = absl::StrCat(std::string(name), "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < disk::LatencyHistogram::kBuckets; ++i) {
    cumulative += snapshot.counts[i];
    const double le = static_cast<double>(disk::LatencyHistogram::bound_ns(i)) / 1e9;
    sample(bucket, {{"le", absl::StrCat(le)}}, static_cast<double>(cumulative));
  }
  sample(bucket, {{"le", "+Inf"}}, static_cast<double>(snapshot.count()));
  sample(absl::StrCat(std::string(name), "_sum"), static_cast<double>(snapshot.sum_ns) / 1e9);
  sample(absl::StrCat(std::string(name), "_count"), static_cast<double>(snapshot.count()));
}

}  // namespace walle::runtime
