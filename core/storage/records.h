#pragma once

// Payloads of the records a stream store writes (record_format.h frames them).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cereal/types/vector.hpp"
#include "core/storage/entry.h"
#include "core/storage/stream_meta.h"
#include "core/wire/archive.h"

namespace walle::storage {

// kEntry. `committed`: the entry was stored by a gap commit and is committed as it lands.
struct EntryRecord {
  Entry entry;
  bool committed = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(entry, committed);
  }
};

// kCommit: the committed id is now `id`.
struct CommitRecord {
  uint64_t id = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id);
  }
};

// kStamp: entry `id` now carries `writer`.
struct StampRecord {
  uint64_t id = 0;
  WriterId writer;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, writer);
  }
};

// The owner state in every live segment header (SegmentHeader::owner_state).
struct LiveSegmentState {
  uint64_t committed = 0;
  std::vector<StampRecord> stamps;  // re-stamped entries of the uncommitted window
  template <class Archive>
  void serialize(Archive& ar) {
    ar(committed, stamps);
  }
};

template <class T>
std::string encode_payload(const T& value) {
  std::string out;
  wire::ReusedArchive<wire::WireOutputArchive> ar(out);
  (*ar)(value);
  return out;
}

// nullopt if the payload does not decode exactly (a record that passed its checksum but does
// not parse can only come from a bug or a forged file).
template <class T>
std::optional<T> decode_payload(std::string_view payload) {
  T value;
  try {
    wire::ReusedArchive<wire::WireInputArchive> ar(payload);
    (*ar)(value);
    if ((*ar).remaining() != 0) return std::nullopt;
  } catch (const cereal::Exception&) {
    return std::nullopt;
  }
  return value;
}

}  // namespace walle::storage
