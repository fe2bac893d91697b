#pragma once

// Frames: how messages travel over a byte stream (a TCP connection, or the simulator's
// byte-stream links). Written once, used by net/ and by sim/, so a framing bug is a
// simulation failure before it is a production one.
//
// A frame is a 16-byte header, then the payload:
//
//   offset  size  field
//        0     4  length         payload bytes, little-endian; at most the reader's limit
//        4     4  header_check   low 32 bits of XXH3_64(bytes 0..4, kFrameSeed)
//        8     8  payload_check  XXH3_64(payload, kFrameSeed)
//
// The header check rejects a damaged length at once, before the reader waits for (or
// allocates) bytes that will never come; the payload check catches what TCP's 16-bit sum
// lets through. Either failing means the stream can no longer be trusted: the connection
// is closed, and the protocol's retries carry on over a new one.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace walle::link {

inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr uint64_t kFrameSeed = 0x77616c6c65667261ULL;  // "wallefra"
// The largest payload any reader accepts, whatever it is configured with.
inline constexpr uint32_t kMaxFramePayloadBytes = 64u << 20;

// Appends one frame holding `payload` to `out`. Requires payload.size() <=
// kMaxFramePayloadBytes (callers check the configured limit first: a larger message is a bug).
void append_frame(std::string_view payload, std::string& out);

// Cuts a byte stream into frames. Feed it bytes as they arrive, in any pieces; take frames
// out with next(). It keeps what it is fed: the caller bounds its memory by reading no more
// from the socket while buffered_bytes() exceeds a frame's worth.
class FrameReader {
 public:
  // Frames longer than `max_payload_bytes` (at most kMaxFramePayloadBytes) are refused.
  explicit FrameReader(uint32_t max_payload_bytes);

  void feed(std::string_view bytes);

  // The next whole frame's payload; nullopt if more bytes are needed. An error
  // (kInvalidArgument: bad header check, oversized, corrupt payload) is final: the stream
  // is broken and every later call returns the same error.
  absl::StatusOr<std::optional<std::string>> next();

  // Bytes fed and not yet returned in a frame.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }

 private:
  uint32_t max_payload_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;  // bytes at the front of buffer_ already returned
  absl::Status broken_;
};

}  // namespace walle::link
