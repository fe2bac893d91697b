#include "core/util/check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace walle::internal {
namespace {

struct FailureContext {
  std::string context;
  std::string repro;
};

FailureContext& failure_context() {
  thread_local FailureContext context;
  return context;
}

}  // namespace

void set_check_failure_context(std::string_view context, std::string_view repro) {
  FailureContext& c = failure_context();
  c.context.assign(context.data(), context.size());
  c.repro.assign(repro.data(), repro.size());
}

void check_failed(const char* file, int line, const char* condition, const char* message) {
  const FailureContext& c = failure_context();
  std::fprintf(stderr, "%s%sWALLE_CHECK failed at %s:%d: %s%s%s\n", c.context.c_str(),
               c.context.empty() ? "" : ": ", file, line, condition, message ? ": " : "",
               message ? message : "");
  if (!c.repro.empty()) std::fprintf(stderr, "  repro: %s\n", c.repro.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace walle::internal
