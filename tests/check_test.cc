// A failed WALLE_CHECK names the context it ran in (a simulation seed and its repro line), so
// that a check firing inside a sweep's worker is a failing seed, not an anonymous abort.

#include "core/util/check.h"

#include "gtest/gtest.h"

namespace walle {
namespace {

void fail_a_check() { WALLE_CHECK_MSG(1 + 1 == 3, "arithmetic"); }

TEST(CheckDeathTest, FailedCheckPrintsWhereAndWhy) {
  EXPECT_DEATH(fail_a_check(), "WALLE_CHECK failed at .*check_test.cc:[0-9]+: 1 \\+ 1 == 3: arithmetic");
}

TEST(CheckDeathTest, FailedCheckPrintsTheSeedAndItsRepro) {
  EXPECT_DEATH(
      {
        internal::set_check_failure_context("FAIL seed=123 workload=protocol",
                                            "walle-sim run --workload protocol --seed 123 --trace");
        fail_a_check();
      },
      "FAIL seed=123 workload=protocol: WALLE_CHECK failed at .*arithmetic\n"
      "  repro: walle-sim run --workload protocol --seed 123 --trace");
}

}  // namespace
}  // namespace walle
