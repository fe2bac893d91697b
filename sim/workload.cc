#include "sim/workload.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace walle::sim {

absl::Status WorkloadRegistry::add(std::unique_ptr<Workload> workload) {
  std::string name(workload->name());
  if (workloads_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("workload '", name, "' is already registered"));
  }
  workloads_.emplace(std::move(name), std::move(workload));
  return absl::OkStatus();
}

absl::StatusOr<Workload*> WorkloadRegistry::find(std::string_view name) const {
  auto it = workloads_.find(name);
  if (it == workloads_.end()) {
    std::vector<std::string> names;
    for (const auto& [known, w] : workloads_) names.push_back(known);
    return absl::NotFoundError(absl::StrCat("no workload named '", std::string(name),
                                            "'; known: ", absl::StrJoin(names, ", ")));
  }
  return it->second.get();
}

std::vector<const Workload*> WorkloadRegistry::all() const {
  std::vector<const Workload*> out;
  for (const auto& [name, w] : workloads_) out.push_back(w.get());
  return out;
}

absl::StatusOr<int64_t> ParamReader::integer(std::string_view key, int64_t fallback, int64_t min,
                                             int64_t max) {
  used_.emplace_back(key);
  auto it = params_.find(std::string(key));
  if (it == params_.end()) return fallback;
  int64_t value;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter ", std::string(key), "='", it->second, "' is not an integer"));
  }
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("parameter ", std::string(key), "=", value,
                                                   " is outside [", min, ", ", max, "]"));
  }
  return value;
}

absl::Status ParamReader::check_all_used() const {
  for (const auto& [key, value] : params_) {
    if (std::find(used_.begin(), used_.end(), key) == used_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter '", key,
                                                     "'; known: ", absl::StrJoin(used_, ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace walle::sim
