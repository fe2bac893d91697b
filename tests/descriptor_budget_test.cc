// The data files' descriptor cap a server takes from its open-file limit.

#include "runtime/descriptor_budget.h"

#include <sys/resource.h>

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walle::runtime {
namespace {

using ::testing::HasSubstr;

size_t soft_limit() {
  rlimit limit;
  EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  return limit.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(limit.rlim_cur);
}

TEST(DescriptorBudget, ACapThatFitsIsTakenAndOneThatDoesNotIsRefusedNamingTheLimit) {
  absl::StatusOr<DescriptorBudget> all = data_file_descriptor_budget(0, 16);
  ASSERT_TRUE(all.ok()) << all.status();
  const size_t limit = soft_limit();  // raised to the hard limit by the call
  if (limit < SIZE_MAX) {
    EXPECT_EQ(all->max_open_files, limit - 16 - kReservedDescriptors);
  }
  absl::StatusOr<DescriptorBudget> some = data_file_descriptor_budget(kMinOpenFiles, 16);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->max_open_files, kMinOpenFiles);
  EXPECT_TRUE(some->warning.empty());
  if (limit < SIZE_MAX) {
    absl::StatusOr<DescriptorBudget> too_many = data_file_descriptor_budget(limit, 16);
    EXPECT_EQ(too_many.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(too_many.status().message(), HasSubstr("ulimit -n"));
  }
  EXPECT_EQ(data_file_descriptor_budget(kMinOpenFiles - 1, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DescriptorBudget, ATightLimitStillStartsWithAWarning) {
  const size_t limit = soft_limit();
  if (limit == SIZE_MAX) GTEST_SKIP() << "no open-file limit here";
  // Connections alone would take every descriptor: the server starts anyway, on half.
  absl::StatusOr<DescriptorBudget> tight = data_file_descriptor_budget(0, limit);
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_GE(tight->max_open_files, kMinOpenFiles);
  EXPECT_THAT(tight->warning, HasSubstr("--max-connections"));
}

}  // namespace
}  // namespace walle::runtime
