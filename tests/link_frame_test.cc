#include "core/link/frame.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rapidcheck.h"
#include "rapidcheck/gtest.h"

namespace walle::link {
namespace {

// Feeds `stream` to a reader in the given piece sizes (cycled) and collects frames until
// the stream ends or the reader fails.
struct Decoded {
  std::vector<std::string> payloads;
  absl::Status error;
};
Decoded decode_in_pieces(const std::string& stream, const std::vector<size_t>& piece_sizes,
                         uint32_t max_payload = kMaxFramePayloadBytes) {
  FrameReader reader(max_payload);
  Decoded out;
  size_t at = 0;
  size_t i = 0;
  while (at < stream.size() && out.error.ok()) {
    const size_t n = std::min(stream.size() - at, std::max<size_t>(1, piece_sizes[i++ % piece_sizes.size()]));
    reader.feed(std::string_view(stream).substr(at, n));
    at += n;
    for (;;) {
      absl::StatusOr<std::optional<std::string>> next = reader.next();
      if (!next.ok()) {
        out.error = next.status();
        break;
      }
      if (!next->has_value()) break;
      out.payloads.push_back(std::move(**next));
    }
  }
  return out;
}

TEST(Frame, PayloadsComeBackWholeWhateverPiecesTheStreamArrivesIn) {
  std::string stream;
  const std::vector<std::string> payloads = {"", "a", std::string(1000, 'x'), "hello"};
  for (const std::string& p : payloads) append_frame(p, stream);
  EXPECT_EQ(stream.size(), 4 * kFrameHeaderBytes + 1006);
  for (size_t piece : {1, 3, 16, 17, 5000}) {
    const Decoded d = decode_in_pieces(stream, {piece});
    EXPECT_TRUE(d.error.ok()) << d.error;
    EXPECT_EQ(d.payloads, payloads) << "pieces of " << piece;
  }
}

TEST(Frame, AnOversizedLengthIsRefusedFromTheHeaderAlone) {
  std::string stream;
  append_frame(std::string(100, 'x'), stream);
  FrameReader reader(99);
  reader.feed(std::string_view(stream).substr(0, kFrameHeaderBytes));  // the payload never comes
  absl::StatusOr<std::optional<std::string>> next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(next.status().message().find("exceeds the limit of 99"), std::string::npos);
  // Final: later bytes change nothing.
  reader.feed("more");
  EXPECT_FALSE(reader.next().ok());
}

TEST(Frame, AHugeForgedLengthPrefixIsRefusedWithoutWaitingForItsBytes) {
  std::string forged(kFrameHeaderBytes, '\0');
  forged[0] = forged[1] = forged[2] = forged[3] = '\xff';  // 4 GiB, with no valid check
  FrameReader reader(1 << 20);
  reader.feed(forged);
  absl::StatusOr<std::optional<std::string>> next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.status().message().find("header fails its check"), std::string::npos);
}

TEST(Frame, RandomBytesAreNotAStream) {
  const std::string noise = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const Decoded d = decode_in_pieces(noise, {7});
  EXPECT_TRUE(d.payloads.empty());
  EXPECT_FALSE(d.error.ok());
}

TEST(Frame, ATruncatedFrameWaitsForTheRestAndReturnsNothing) {
  std::string stream;
  append_frame("complete", stream);
  append_frame("cut short", stream);
  stream.resize(stream.size() - 3);
  const Decoded d = decode_in_pieces(stream, {4});
  EXPECT_TRUE(d.error.ok());
  EXPECT_EQ(d.payloads, std::vector<std::string>{"complete"});
}

// Every single flipped bit is detected: the frames before it decode, the damaged one never
// comes out, and the stream fails.
RC_GTEST_PROP(FrameProperty, EveryFlippedBitFailsTheStreamAtItsFrame,
              (std::vector<std::string> payloads, std::vector<uint8_t> pieces)) {
  RC_PRE(!payloads.empty());
  std::string stream;
  std::vector<size_t> frame_end;
  for (const std::string& p : payloads) {
    append_frame(p, stream);
    frame_end.push_back(stream.size());
  }
  std::vector<size_t> sizes(pieces.begin(), pieces.end());
  if (sizes.empty()) sizes.push_back(7);
  const Decoded clean = decode_in_pieces(stream, sizes);
  RC_ASSERT(clean.error.ok());
  RC_ASSERT(clean.payloads == payloads);

  const size_t bit = *rc::gen::inRange<size_t>(0, stream.size() * 8);
  std::string damaged = stream;
  damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
  const size_t frame = static_cast<size_t>(
      std::upper_bound(frame_end.begin(), frame_end.end(), bit / 8) - frame_end.begin());
  const Decoded d = decode_in_pieces(damaged, sizes);
  RC_ASSERT(std::vector<std::string>(payloads.begin(), payloads.begin() + frame) == d.payloads);
  // A flipped length fails the header check at once: no frame waits for bytes never sent.
  RC_ASSERT(!d.error.ok());
}

}  // namespace
}  // namespace walle::link
