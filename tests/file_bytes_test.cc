#include "sim/file_bytes.h"

#include <string>

#include "gtest/gtest.h"

namespace walle::sim {
namespace {

TEST(FileBytes, AZeroFilledFileReadsAsZerosAndWritesLandInsideIt) {
  FileBytes f;
  f.zero(0, 64);
  EXPECT_EQ(f.size(), 64u);
  EXPECT_EQ(f.read(0, 64), std::string(64, '\0'));
  f.write(0, "abc");
  f.write(10, "xy");  // past the written bytes, inside the zero tail
  EXPECT_EQ(f.size(), 64u);
  std::string expected(64, '\0');
  expected.replace(0, 3, "abc");
  expected.replace(10, 2, "xy");
  EXPECT_EQ(f.to_string(), expected);
  EXPECT_EQ(f.written_end(), 12u);
}

TEST(FileBytes, WritesPastTheEndGrowTheFileAndOverlappingWritesReplace) {
  FileBytes f;
  f.write(4, "abcd");
  EXPECT_EQ(f.to_string(), std::string("\0\0\0\0abcd", 8));
  f.write(6, "XYZW");  // overlaps the end
  EXPECT_EQ(f.to_string(), std::string("\0\0\0\0abXYZW", 10));
  f.write(0, "12");
  EXPECT_EQ(f.to_string(), std::string("12\0\0abXYZW", 10));
}

TEST(FileBytes, ZeroingOverwrittenBytesAndResizingKeepTheTailZero) {
  FileBytes f;
  f.write(0, "abcdefgh");
  f.zero(2, 2);
  EXPECT_EQ(f.to_string(), std::string("ab\0\0efgh", 8));
  f.zero(6, 10);  // reaches past the end: the zero tail starts at 6
  EXPECT_EQ(f.size(), 16u);
  EXPECT_EQ(f.to_string(), std::string("ab\0\0ef", 6) + std::string(10, '\0'));
  f.resize(3);
  EXPECT_EQ(f.to_string(), "ab" + std::string(1, '\0'));
  f.resize(5);  // grown again: the cut bytes do not come back
  EXPECT_EQ(f.to_string(), "ab" + std::string(3, '\0'));
}

TEST(FileBytes, ReadsAreClippedToTheFileAndFlipsReachTheZeroTail) {
  FileBytes f;
  f.write(0, "ab");
  f.resize(6);
  EXPECT_EQ(f.read(1, 100), std::string("b\0\0\0\0", 5));
  EXPECT_EQ(f.read(6, 1), "");
  f.flip(4, 0x01);
  EXPECT_EQ(f.to_string(), std::string("ab\0\0\x01\0", 6));
  EXPECT_EQ(f.written_end(), 5u);
}

}  // namespace
}  // namespace walle::sim
