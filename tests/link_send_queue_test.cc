#include "core/link/send_queue.h"

#include <string>

#include "core/link/frame.h"
#include "gtest/gtest.h"

namespace walle::link {
namespace {

// Drains the queue in writes of at most `write_bytes`, as a socket taking what it can.
std::string drain(SendQueue& q, size_t write_bytes) {
  std::string wire;
  while (!q.empty()) {
    size_t budget = write_bytes;
    size_t written = 0;
    for (std::string_view piece : q.pieces(16)) {
      const size_t n = std::min(piece.size(), budget);
      wire.append(piece.substr(0, n));
      written += n;
      budget -= n;
      if (budget == 0) break;
    }
    q.consume(written);
  }
  return wire;
}

TEST(SendQueue, PartialWritesDeliverEveryFrameOnceInOrder) {
  SendQueue q(1 << 20);
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string payload(static_cast<size_t>(i * 37 % 3000), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(q.push(payload));
    append_frame(payload, expected);
  }
  EXPECT_EQ(q.bytes(), expected.size());
  // Small frames share chunks: far fewer pieces than frames.
  EXPECT_LT(q.pieces(1000).size(), 20u);
  EXPECT_EQ(drain(q, 999), expected);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(SendQueue, PushesBetweenPartialWritesKeepTheOrder) {
  SendQueue q(1 << 20);
  std::string expected;
  std::string wire;
  for (int i = 0; i < 50; ++i) {
    const std::string payload(static_cast<size_t>(100 + i), 'x');
    ASSERT_TRUE(q.push(payload));
    append_frame(payload, expected);
    // Views taken before a push stay valid after it.
    std::vector<std::string_view> pieces = q.pieces(4);
    ASSERT_TRUE(q.push("interleaved"));
    append_frame("interleaved", expected);
    const size_t n = std::min<size_t>(pieces.front().size(), 77);
    wire.append(pieces.front().substr(0, n));
    q.consume(n);
  }
  wire += drain(q, 1 << 20);
  EXPECT_EQ(wire, expected);
}

TEST(SendQueue, APeerThatNeverReadsHitsTheBoundAndNothingMoreIsQueued) {
  SendQueue q(10'000);
  int queued = 0;
  while (q.push(std::string(1000, 'x'))) ++queued;
  EXPECT_EQ(queued, 9);  // 9 frames of 1,016 bytes fit in 10,000
  EXPECT_LE(q.bytes(), 10'000u);
  EXPECT_FALSE(q.push(std::string(1000, 'x')));
  EXPECT_TRUE(q.push(std::string(10'000 - q.bytes() - kFrameHeaderBytes, 'y')));  // exactly full
  EXPECT_EQ(q.bytes(), 10'000u);
}

TEST(SendQueue, AFrameLargerThanAChunkGetsOneOfItsOwn) {
  SendQueue q(1 << 22);
  ASSERT_TRUE(q.push("small"));
  ASSERT_TRUE(q.push(std::string(200'000, 'z')));
  ASSERT_TRUE(q.push("after"));
  std::string expected;
  append_frame("small", expected);
  append_frame(std::string(200'000, 'z'), expected);
  append_frame("after", expected);
  EXPECT_EQ(drain(q, 65'536), expected);
}

}  // namespace
}  // namespace walle::link
