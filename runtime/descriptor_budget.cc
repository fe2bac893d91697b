#include "runtime/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace walle::runtime {

absl::StatusOr<DescriptorBudget> data_file_descriptor_budget(size_t requested,
                                                             size_t max_connections) {
  rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;  // else: keep the soft limit
  }
  const size_t available = limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(limit.rlim_cur);
  const size_t other = max_connections + kReservedDescriptors;
  const size_t budget = available > other ? available - other : 0;
  const std::string why = absl::StrCat("the open-file limit (ulimit -n) is ", available, ", and ",
                                       max_connections, " connections (--max-connections) plus ",
                                       kReservedDescriptors, " for the server itself leave ",
                                       budget, " for data files");
  if (requested == 0) {
    if (budget >= kMinOpenFiles) return DescriptorBudget{budget, ""};
    const size_t fallback = std::max(kMinOpenFiles, available / 2);
    return DescriptorBudget{
        fallback, absl::StrCat(why, ": using ", fallback,
                               " for data files; with many streams or connections, raise the "
                               "limit or lower --max-connections")};
  }
  if (requested < kMinOpenFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-open-files=", requested, " is below the minimum, ", kMinOpenFiles));
  }
  if (requested > budget) {
    return absl::FailedPreconditionError(
        absl::StrCat("--max-open-files=", requested, " does not fit: ", why,
                     ": raise the limit, or lower --max-open-files or --max-connections"));
  }
  return DescriptorBudget{requested, ""};
}

}  // namespace walle::runtime
