#pragma once

// Cereal archives for WALLE's wire and disk encodings.
//
// Like cereal's BinaryArchive, but (1) little-endian fixed-width integers on every host,
// (2) sizes as LEB128 varints, (3) the reader works on a string_view and treats hostile input
// as a normal case: every size is checked against the bytes that remain before anything is
// allocated, so a forged length cannot make the decoder allocate gigabytes, and a bool must be
// 0 or 1. (A container of n elements then allocates n * sizeof(element), so a decoder's
// memory stays within a small multiple of its input.) Malformed input throws cereal::Exception inside the archive; the codec (codec.h)
// turns that into an absl::Status at the boundary, so no exception escapes into callers.

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "cereal/cereal.hpp"

namespace walle::wire {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian; add byte swapping for this host");

class WireOutputArchive
    : public cereal::OutputArchive<WireOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  // Most messages and records are a few hundred bytes: one allocation up front instead of a
  // string that doubles its way there from 15 bytes (a sixth of the simulator's copying).
  static constexpr size_t kInitialCapacity = 256;

  WireOutputArchive()
      : cereal::OutputArchive<WireOutputArchive, cereal::AllowEmptyClassElision>(this) {}
  explicit WireOutputArchive(std::string& out) : WireOutputArchive() { rebind(out); }

  // Appends to `out` from now on (ReusedArchive).
  void rebind(std::string& out) {
    out_ = &out;
    out_->reserve(out_->size() + kInitialCapacity);
  }

  void save_bytes(const void* data, size_t size) {
    out_->append(static_cast<const char*>(data), size);
  }

  void save_varint(uint64_t value) {
    while (value >= 0x80) {
      out_->push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_->push_back(static_cast<char>(value));
  }

 private:
  std::string* out_ = nullptr;
};

class WireInputArchive
    : public cereal::InputArchive<WireInputArchive, cereal::AllowEmptyClassElision> {
 public:
  WireInputArchive()
      : cereal::InputArchive<WireInputArchive, cereal::AllowEmptyClassElision>(this) {}
  explicit WireInputArchive(std::string_view in) : WireInputArchive() { rebind(in); }

  // Reads `in` from now on (ReusedArchive).
  void rebind(std::string_view in) { in_ = in; }

  void load_bytes(void* data, size_t size) {
    if (size > in_.size()) {
      throw cereal::Exception("truncated input: need " + std::to_string(size) + " bytes, have " +
                              std::to_string(in_.size()));
    }
    if (size > 0) std::memcpy(data, in_.data(), size);
    in_.remove_prefix(size);
  }

  uint64_t load_varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte;
      load_bytes(&byte, 1);
      if (shift == 63 && byte > 1) throw cereal::Exception("varint overflows 64 bits");
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        // One value, one encoding: a zero final byte after a continuation is padding.
        if (byte == 0 && shift > 0) throw cereal::Exception("varint has redundant bytes");
        return value;
      }
    }
    throw cereal::Exception("varint longer than 10 bytes");
  }

  // A container size: every element takes at least one byte, so a size larger than what
  // remains is a lie, and is refused before anything is allocated.
  uint64_t load_size() {
    const uint64_t size = load_varint();
    if (size > in_.size()) {
      throw cereal::Exception("size " + std::to_string(size) + " exceeds the " +
                              std::to_string(in_.size()) + " bytes left");
    }
    return size;
  }

  size_t remaining() const { return in_.size(); }

 private:
  std::string_view in_;
};

// A cereal archive builds, and on destruction clears, hash tables for shared pointers,
// polymorphic types and class versions, none of which these encodings use: one archive per
// message and record cost 4% of the simulator's time. A ReusedArchive lends this thread's
// archive, rebound to the bytes at hand; a nested use (a serialize that encodes) gets its own.
template <class Archive>
class ReusedArchive {
 public:
  template <class Target>
  explicit ReusedArchive(Target&& target) {
    Slot& slot = this_thread();
    if (slot.in_use) {
      archive_ = &fresh_.emplace();
    } else {
      slot.in_use = true;
      archive_ = &slot.archive;
    }
    archive_->rebind(std::forward<Target>(target));
  }
  ~ReusedArchive() {
    if (archive_ == &this_thread().archive) this_thread().in_use = false;
  }
  ReusedArchive(const ReusedArchive&) = delete;
  ReusedArchive& operator=(const ReusedArchive&) = delete;

  Archive& operator*() { return *archive_; }

 private:
  struct Slot {
    Archive archive;
    bool in_use = false;
  };
  static Slot& this_thread() {
    thread_local Slot slot;
    return slot;
  }

  std::optional<Archive> fresh_;
  Archive* archive_ = nullptr;
};

// Arithmetic types: fixed width, little-endian.
template <class T>
  requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
inline void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const T& t) {
  ar.save_bytes(&t, sizeof(t));
}
template <class T>
  requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
inline void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, T& t) {
  ar.load_bytes(&t, sizeof(t));
}

inline void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const bool& b) {
  const uint8_t byte = b ? 1 : 0;
  ar.save_bytes(&byte, 1);
}
inline void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, bool& b) {
  uint8_t byte;
  ar.load_bytes(&byte, 1);
  if (byte > 1) throw cereal::Exception("bool byte is " + std::to_string(byte));
  b = byte == 1;
}

// Names are not written: the wire carries values only, in declaration order.
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const cereal::NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::NameValuePair<T>& t) {
  ar(t.value);
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const cereal::SizeTag<T>& t) {
  ar.save_varint(static_cast<uint64_t>(t.size));
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::SizeTag<T>& t) {
  t.size = static_cast<std::remove_reference_t<T>>(ar.load_size());
}

template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const cereal::BinaryData<T>& bd) {
  ar.save_bytes(bd.data, static_cast<size_t>(bd.size));
}
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::BinaryData<T>& bd) {
  ar.load_bytes(bd.data, static_cast<size_t>(bd.size));
}

}  // namespace walle::wire

CEREAL_REGISTER_ARCHIVE(walle::wire::WireOutputArchive)
CEREAL_REGISTER_ARCHIVE(walle::wire::WireInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(walle::wire::WireInputArchive, walle::wire::WireOutputArchive)
