#include "core/util/check.h"

#include <cstdio>
#include <cstdlib>

namespace walle::internal {

void check_failed(const char* file, int line, const char* condition, const char* message) {
  std::fprintf(stderr, "WALLE_CHECK failed at %s:%d: %s%s%s\n", file, line, condition,
               message ? ": " : "", message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace walle::internal
