#include "core/link/frame.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"

namespace walle::link {
namespace {

void put_u32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
void put_u64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
uint32_t get_u32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return value;
}
uint64_t get_u64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return value;
}
uint32_t header_check(const char* length_bytes) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(length_bytes, 4, kFrameSeed));
}

}  // namespace

void append_frame(std::string_view payload, std::string& out) {
  WALLE_CHECK(payload.size() <= kMaxFramePayloadBytes);
  char header[kFrameHeaderBytes];
  put_u32(header, static_cast<uint32_t>(payload.size()));
  put_u32(header + 4, header_check(header));
  put_u64(header + 8, XXH3_64bits_withSeed(payload.data(), payload.size(), kFrameSeed));
  out.append(header, sizeof(header));
  out.append(payload);
}

FrameReader::FrameReader(uint32_t max_payload_bytes)
    : max_payload_bytes_(std::min(max_payload_bytes, kMaxFramePayloadBytes)) {}

void FrameReader::feed(std::string_view bytes) {
  if (!broken_.ok()) return;
  // Drop what was returned before growing, so the buffer holds only unread bytes.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

absl::StatusOr<std::optional<std::string>> FrameReader::next() {
  if (!broken_.ok()) return broken_;
  const std::string_view rest = std::string_view(buffer_).substr(consumed_);
  if (rest.size() < kFrameHeaderBytes) return std::nullopt;
  const char* h = rest.data();
  if (get_u32(h + 4) != header_check(h)) {
    broken_ = absl::InvalidArgumentError("frame header fails its check (not a WALLE stream, or damaged)");
    return broken_;
  }
  const uint32_t length = get_u32(h);
  if (length > max_payload_bytes_) {
    broken_ = absl::InvalidArgumentError(
        absl::StrCat("frame of ", length, " bytes exceeds the limit of ", max_payload_bytes_));
    return broken_;
  }
  if (rest.size() < kFrameHeaderBytes + length) return std::nullopt;
  const std::string_view payload = rest.substr(kFrameHeaderBytes, length);
  if (XXH3_64bits_withSeed(payload.data(), payload.size(), kFrameSeed) != get_u64(h + 8)) {
    broken_ = absl::InvalidArgumentError(
        absl::StrCat("frame of ", length, " bytes fails its payload checksum"));
    return broken_;
  }
  std::string out(payload);
  consumed_ += kFrameHeaderBytes + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return out;
}

}  // namespace walle::link
