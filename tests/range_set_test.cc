// RangeSet::intersects: the disjointness the store's invariants rest on (missing ids are in no
// index).

#include <gtest/gtest.h>

#include "core/storage/range_set.h"

namespace walle {
namespace {

RangeSet of(std::initializer_list<std::pair<uint64_t, uint64_t>> ranges) {
  RangeSet set;
  for (auto [begin, end] : ranges) set.add(begin, end);
  return set;
}

TEST(RangeSet, IntersectsOnlyWhenSomeIdIsInBoth) {
  EXPECT_FALSE(of({}).intersects(of({{1, 5}})));
  EXPECT_FALSE(of({{1, 5}}).intersects(of({{5, 9}})));  // half-open: 5 is not in the first
  EXPECT_TRUE(of({{1, 6}}).intersects(of({{5, 9}})));
  EXPECT_TRUE(of({{7, 8}}).intersects(of({{1, 3}, {5, 20}})));  // inside a larger range
  EXPECT_FALSE(of({{3, 5}, {9, 10}}).intersects(of({{1, 3}, {5, 9}, {10, 12}})));
  EXPECT_TRUE(of({{3, 5}, {9, 11}}).intersects(of({{1, 3}, {5, 9}, {10, 12}})));
  // Symmetric, whichever set is smaller.
  EXPECT_TRUE(of({{1, 3}, {5, 9}, {10, 12}}).intersects(of({{9, 11}})));
  EXPECT_FALSE(of({{1, 3}, {5, 9}, {10, 12}}).intersects(of({{3, 5}})));
}

}  // namespace
}  // namespace walle
