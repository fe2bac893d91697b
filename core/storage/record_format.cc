#include "core/storage/record_format.h"

#include <xxhash.h>

#include <cstring>

#include "core/util/check.h"

namespace walle::storage {
namespace {

uint32_t load_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t load_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t header_check(const char* header, uint64_t seed) {
  return static_cast<uint32_t>(XXH3_64bits_withSeed(header + 4, kRecordHeaderBytes - 4, seed));
}
}  // namespace

bool all_zero(std::string_view bytes) {
  // The first byte is zero and every byte equals the next: memcmp runs at memory speed, where a
  // byte loop made recovery's check of preallocated segment tails most of a server's start.
  return bytes.empty() ||
         (bytes[0] == 0 && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0);
}

void append_record(std::string& out, RecordType type, std::string_view payload, uint64_t seed) {
  WALLE_CHECK(out.size() % kRecordAlignment == 0);
  WALLE_CHECK(payload.size() <= kMaxRecordPayloadBytes);
  char header[kRecordHeaderBytes] = {};
  const uint32_t length = static_cast<uint32_t>(payload.size());
  std::memcpy(header + 4, &length, 4);
  header[8] = static_cast<char>(type);
  const uint64_t payload_check = XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
  std::memcpy(header + 16, &payload_check, 8);
  const uint32_t check = header_check(header, seed);
  std::memcpy(header, &check, 4);
  out.append(header, kRecordHeaderBytes);
  out.append(payload.data(), payload.size());
  out.resize(out.size() + (record_size(payload.size()) - kRecordHeaderBytes - payload.size()),
             '\0');
}

RecordReader::Result RecordReader::check_at(uint64_t position, RecordView* record) const {
  const std::string_view rest = buffer_.substr(std::min<uint64_t>(position, buffer_.size()));
  if (rest.size() < kRecordHeaderBytes) return Result::kIncomplete;
  const char* h = rest.data();
  if (all_zero(rest.substr(0, kRecordHeaderBytes))) return Result::kEnd;
  if (load_u32(h) != header_check(h, seed_)) return Result::kBad;
  const uint32_t length = load_u32(h + 4);
  const uint8_t type = static_cast<uint8_t>(h[8]);
  if (length > kMaxRecordPayloadBytes || type < 1 || type > kMaxRecordType ||
      !all_zero(rest.substr(9, 7))) {
    return Result::kBad;
  }
  const uint64_t size = record_size(length);
  if (rest.size() < size) return Result::kIncomplete;
  const std::string_view payload = rest.substr(kRecordHeaderBytes, length);
  if (XXH3_64bits_withSeed(payload.data(), payload.size(), seed_) != load_u64(h + 16)) {
    return Result::kBad;
  }
  if (record != nullptr) {
    record->type = static_cast<RecordType>(type);
    record->payload = payload;
    record->offset = base_offset_ + position;
    record->size = size;
  }
  return Result::kRecord;
}

RecordReader::Result RecordReader::next(RecordView& record) {
  const Result result = check_at(position_, &record);
  if (result == Result::kRecord) position_ += record.size;
  return result;
}

std::optional<uint64_t> RecordReader::find_next_valid() const {
  for (uint64_t p = position_ + kRecordAlignment; p + kRecordHeaderBytes <= buffer_.size();
       p += kRecordAlignment) {
    // A zero word cannot start a record unless both its header check and its length are
    // zero (no record we write has an empty payload): skip zeroed space cheaply.
    if (load_u64(buffer_.data() + p) == 0) continue;
    if (check_at(p, nullptr) == Result::kRecord) return base_offset_ + p;
  }
  return std::nullopt;
}

}  // namespace walle::storage
