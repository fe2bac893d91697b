#pragma once

// The on-disk record format shared by log segments and metadata files (docs/storage.md).
//
// Every record starts at a multiple of 8 bytes:
//
//   offset  size  field
//        0     4  header_check   low 32 bits of XXH3_64(bytes 4..24 of the header, seed)
//        4     4  payload_bytes  little-endian
//        8     1  type           RecordType
//        9     7  zero
//       16     8  payload_check  XXH3_64(payload, seed)
//       24     n  payload, then zeros up to a multiple of 8
//
// `seed` is the file's own seed (derived from the stream, the log kind and the segment
// number), so a record left over from an earlier use of a recycled file fails its checks like
// garbage, and unused (zeroed) space is recognised as the end of the log.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walle::storage {

enum class RecordType : uint8_t {
  kEntry = 1,          // an Entry (live log: a put; backfill log: a filled entry)
  kCommit = 2,         // the committed id advanced
  kStamp = 3,          // an entry was re-stamped with a newer writer
  kSegmentHeader = 4,  // first record of every segment
  kMeta = 5,           // the stream's metadata (metadata file)
  kSyncMark = 6,       // every byte of the log before a position was durable (segment_log.h)
  kJournalWrite = 7,   // bytes a log wrote into one of its segments (journal.h)
};
inline constexpr uint8_t kMaxRecordType = 7;

inline constexpr uint64_t kRecordHeaderBytes = 24;
inline constexpr uint64_t kRecordAlignment = 8;
inline constexpr uint64_t kMaxRecordPayloadBytes = (1 << 20) + 4096;

// Bytes a record with `payload_bytes` of payload takes, padding included.
inline uint64_t record_size(uint64_t payload_bytes) {
  return kRecordHeaderBytes + ((payload_bytes + kRecordAlignment - 1) & ~(kRecordAlignment - 1));
}

// Appends one record to `out` (whose size must be a multiple of 8).
// True if every byte of `bytes` is zero (fast: recovery checks whole preallocated tails).
bool all_zero(std::string_view bytes);

void append_record(std::string& out, RecordType type, std::string_view payload, uint64_t seed);

struct RecordView {
  RecordType type;
  std::string_view payload;
  uint64_t offset = 0;  // in the file
  uint64_t size = 0;    // padding included
};

// Reads records from a buffer holding file bytes [base_offset, base_offset + size).
class RecordReader {
 public:
  enum class Result {
    kRecord,      // `record` is valid
    kEnd,         // zeroed space: nothing was ever written here (or all of it was lost)
    kBad,         // a header or payload failed its checks: torn, rotten or stale bytes
    kIncomplete,  // the buffer ends inside the next record (or is used up): read more; at the
                  // end of the file, the remaining bytes are a torn record unless all zero
  };

  RecordReader(std::string_view buffer, uint64_t base_offset, uint64_t seed)
      : buffer_(buffer), base_offset_(base_offset), seed_(seed) {}

  // Reads the record at the current position and, if valid, moves past it.
  Result next(RecordView& record);

  // After kBad: the offset of the next position holding a valid record, searching the rest
  // of the buffer at 8-byte steps; nullopt if there is none. Does not move.
  std::optional<uint64_t> find_next_valid() const;

  uint64_t offset() const { return base_offset_ + position_; }
  void seek(uint64_t offset) { position_ = offset - base_offset_; }

 private:
  Result check_at(uint64_t position, RecordView* record) const;

  std::string_view buffer_;
  uint64_t base_offset_;
  uint64_t seed_;
  uint64_t position_ = 0;
};

}  // namespace walle::storage
