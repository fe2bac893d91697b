#include "sim/prng.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace walle::sim {
namespace {

std::vector<uint64_t> draw(Prng& p, int n) {
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(p.next_u64());
  return out;
}

TEST(Prng, SameSeedGivesSameSequence) {
  Prng a(42);
  Prng b(42);
  EXPECT_EQ(draw(a, 1000), draw(b, 1000));
}

TEST(Prng, DifferentSeedsGiveDifferentSequences) {
  Prng a(1);
  Prng b(2);
  EXPECT_NE(draw(a, 16), draw(b, 16));
}

TEST(Prng, SequenceIsNotConstant) {
  Prng a(7);
  const std::vector<uint64_t> values = draw(a, 1000);
  EXPECT_EQ(std::set<uint64_t>(values.begin(), values.end()).size(), values.size());
}

TEST(Prng, ForkIsIndependentOfDrawsTakenFromTheParent) {
  Prng fresh(99);
  Prng used(99);
  draw(used, 12345);
  Prng f1 = fresh.fork(5);
  Prng f2 = used.fork(5);
  EXPECT_EQ(draw(f1, 100), draw(f2, 100));
}

TEST(Prng, ForkDoesNotAdvanceTheParent) {
  Prng a(3);
  Prng b(3);
  (void)a.fork(1);
  (void)a.fork(2);
  EXPECT_EQ(draw(a, 50), draw(b, 50));
}

TEST(Prng, ForkedStreamsDifferFromEachOtherAndFromTheParent) {
  Prng parent(11);
  Prng s1 = parent.fork(1);
  Prng s2 = parent.fork(2);
  Prng p = parent;
  const auto d1 = draw(s1, 16);
  const auto d2 = draw(s2, 16);
  const auto dp = draw(p, 16);
  EXPECT_NE(d1, d2);
  EXPECT_NE(d1, dp);
  EXPECT_NE(d2, dp);
}

TEST(Prng, ForkDependsOnTheParentSeed) {
  Prng a = Prng(1).fork(7);
  Prng b = Prng(2).fork(7);
  EXPECT_NE(draw(a, 16), draw(b, 16));
}

TEST(Prng, UniformStaysBelowBound) {
  Prng p(5);
  for (uint64_t bound : std::vector<uint64_t>{1, 2, 3, 7, 10, 1000, (1ULL << 63) + 1, UINT64_MAX}) {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_LT(p.uniform(bound), bound) << "bound " << bound;
    }
  }
}

TEST(Prng, UniformOfOneIsAlwaysZero) {
  Prng p(5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.uniform(1), 0u);
}

TEST(Prng, UniformHitsEveryValueOfASmallRangeRoughlyEvenly) {
  Prng p(8);
  constexpr int kBound = 10;
  constexpr int kDraws = 100000;
  int counts[kBound] = {};
  for (int i = 0; i < kDraws; ++i) ++counts[p.uniform(kBound)];
  for (int c : counts) {
    EXPECT_GT(c, kDraws / kBound * 9 / 10);
    EXPECT_LT(c, kDraws / kBound * 11 / 10);
  }
}

TEST(Prng, UniformBetweenIsInclusiveOnBothEnds) {
  Prng p(9);
  bool saw_low = false;
  bool saw_high = false;
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = p.uniform_between(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    saw_low |= v == -3;
    saw_high |= v == 3;
  }
  EXPECT_TRUE(saw_low);
  EXPECT_TRUE(saw_high);
}

TEST(Prng, UniformBetweenEqualBoundsReturnsThatValue) {
  Prng p(9);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.uniform_between(17, 17), 17);
  EXPECT_EQ(p.uniform_between(INT64_MIN, INT64_MIN), INT64_MIN);
  EXPECT_EQ(p.uniform_between(INT64_MAX, INT64_MAX), INT64_MAX);
}

TEST(Prng, UniformBetweenHandlesTheFullInt64Range) {
  Prng p(10);
  bool saw_negative = false;
  bool saw_positive = false;
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = p.uniform_between(INT64_MIN, INT64_MAX);
    saw_negative |= v < 0;
    saw_positive |= v > 0;
  }
  EXPECT_TRUE(saw_negative);
  EXPECT_TRUE(saw_positive);
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = p.uniform_between(INT64_MAX - 1, INT64_MAX);
    EXPECT_GE(v, INT64_MAX - 1);
  }
}

TEST(Prng, UnitIsInHalfOpenUnitInterval) {
  Prng p(12);
  for (int i = 0; i < 10000; ++i) {
    const double u = p.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Prng, ChanceZeroNeverAndChanceOneAlways) {
  Prng p(13);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_FALSE(p.chance(0.0));
    ASSERT_FALSE(p.chance(-1.0));
    ASSERT_TRUE(p.chance(1.0));
    ASSERT_TRUE(p.chance(2.0));
  }
}

TEST(Prng, ChanceFrequencyMatchesProbability) {
  Prng p(14);
  constexpr int kDraws = 100000;
  int hits = 0;
  for (int i = 0; i < kDraws; ++i) hits += p.chance(0.25) ? 1 : 0;
  EXPECT_NEAR(static_cast<double>(hits) / kDraws, 0.25, 0.01);
}

}  // namespace
}  // namespace walle::sim
