#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace walle {

// Identifies a writer of a stream. Totally ordered by (ts, id); {0,0} is the minimum (the
// writer of entry 0). A server never accepts a writer older than the newest it has stored.
struct WriterId {
  uint64_t ts = 0;
  uint64_t id = 0;

  friend auto operator<=>(const WriterId&, const WriterId&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(ts, id);
  }
};

// One entry of a stream. `checksum` is the rolling checksum of all data up to and including
// this entry: chain_checksum(previous entry's checksum, data). It does not cover the writer,
// so an entry can be re-stamped with a newer writer without changing it.
struct Entry {
  uint64_t id = 0;
  WriterId writer;
  uint64_t checksum = 0;
  std::string data;

  friend bool operator==(const Entry&, const Entry&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, writer, checksum, data);
  }
};

// XXH64(le64(previous) || data, seed 0), as in the original WALLE, so that checksums computed
// by either implementation agree.
uint64_t chain_checksum(uint64_t previous, std::string_view data);

// Entry 0 of every stream: id 0, writer {0,0}, checksum 0, no data; stored and committed when
// the stream is created.
inline Entry entry_zero() { return Entry{}; }

inline constexpr uint64_t kMaxEntryDataBytes = 1 << 20;

}  // namespace walle
