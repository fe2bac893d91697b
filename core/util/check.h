#pragma once

#include <string_view>

// Invariant checks that stay on in every build (TigerBeetle style: assertions are the
// simulator's eyes). A failed check prints where and why, then aborts, so that a simulation
// seed that trips one is a reproducible failure rather than silent corruption.
//
// WALLE_CHECK is for cheap checks on any path. WALLE_EXPENSIVE_CHECK compiles to nothing
// unless WALLE_EXPENSIVE_CHECKS is defined: the CMake option of that name (ON in this repo's
// builds, PUBLIC on walle_core; a production package may turn it off). It also makes the
// simulator run every state machine's check_invariants() after each step.

namespace walle::internal {
[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const char* message);

// What a failed check prints around its own line, e.g. "FAIL seed=7 workload=protocol" and
// the command that replays the seed, so that a check firing in a sweep's worker names its
// seed. Empty strings: none. Per thread (the simulator runs one seed per thread at a time).
void set_check_failure_context(std::string_view context, std::string_view repro);
}  // namespace walle::internal

#define WALLE_CHECK(condition)                                                 \
  do {                                                                         \
    if (!(condition)) [[unlikely]] {                                           \
      ::walle::internal::check_failed(__FILE__, __LINE__, #condition, nullptr); \
    }                                                                          \
  } while (0)

#define WALLE_CHECK_MSG(condition, message)                                    \
  do {                                                                         \
    if (!(condition)) [[unlikely]] {                                           \
      ::walle::internal::check_failed(__FILE__, __LINE__, #condition, message); \
    }                                                                          \
  } while (0)

#ifdef WALLE_EXPENSIVE_CHECKS
#define WALLE_EXPENSIVE_CHECK(condition) WALLE_CHECK(condition)
#else
#define WALLE_EXPENSIVE_CHECK(condition) \
  do {                                   \
  } while (0)
#endif
