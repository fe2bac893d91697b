// all_zero: recovery's check that a segment's tail was never written (record_format.h).

#include <string>

#include "core/storage/record_format.h"
#include "gtest/gtest.h"

namespace walle::storage {
namespace {

TEST(AllZero, OnlyAllZeroBytesAreZeroWhereverTheOtherByteIs) {
  EXPECT_TRUE(all_zero(""));
  EXPECT_TRUE(all_zero(std::string(1, '\0')));
  EXPECT_TRUE(all_zero(std::string(1 << 20, '\0')));
  for (size_t at : {size_t{0}, size_t{1}, size_t{4095}, size_t{(1 << 20) - 1}}) {
    std::string bytes(1 << 20, '\0');
    bytes[at] = 1;
    EXPECT_FALSE(all_zero(bytes)) << "a non-zero byte at " << at;
  }
  EXPECT_FALSE(all_zero("\x01\x01"));  // every byte equals the next, but not zero
}

}  // namespace
}  // namespace walle::storage
