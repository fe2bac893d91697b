#pragma once

// Invariant checks that stay on in every build (TigerBeetle style: assertions are the
// simulator's eyes). A failed check prints where and why, then aborts, so that a simulation
// seed that trips one is a reproducible failure rather than silent corruption.
//
// WALLE_CHECK is for cheap checks on any path. WALLE_EXPENSIVE_CHECK compiles to nothing
// unless WALLE_EXPENSIVE_CHECKS is defined (sim and test builds define it).

namespace walle::internal {
[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const char* message);
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
