#pragma once

// Encoding and decoding of wire messages.
//
// A message is a struct with a `static constexpr uint16_t kWireType` (unique within the
// protocol it belongs to) and a cereal `serialize` member. Its encoding is the type as a
// little-endian u16, then its fields in declaration order (archive.h). A protocol names its
// messages as a std::variant; decode<Variant>() returns whichever alternative the bytes hold,
// or an error status for anything malformed: unknown type, truncated body, trailing bytes,
// forged sizes. Decoding never throws and never crashes on any input.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cereal/types/string.hpp"
#include "cereal/types/vector.hpp"
#include "core/wire/archive.h"

namespace walle::wire {

template <class T>
concept WireMessage = requires {
  { T::kWireType } -> std::convertible_to<uint16_t>;
};

template <WireMessage T>
std::string encode(const T& message) {
  std::string out;
  ReusedArchive<WireOutputArchive> ar(out);
  const uint16_t type = T::kWireType;
  (*ar)(type);
  (*ar)(message);
  return out;
}

// Reads the type tag without decoding the body; kInvalidArgument if there is none.
absl::StatusOr<uint16_t> peek_type(std::string_view bytes);

namespace internal {

template <class Variant, size_t I = 0>
absl::StatusOr<Variant> decode_alternative(uint16_t type, std::string_view body) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return absl::InvalidArgumentError(absl::StrCat("unknown message type ", type));
  } else {
    using T = std::variant_alternative_t<I, Variant>;
    if (T::kWireType != type) return decode_alternative<Variant, I + 1>(type, body);
    T message;
    try {
      ReusedArchive<WireInputArchive> ar(body);
      (*ar)(message);
      if ((*ar).remaining() != 0) {
        return absl::InvalidArgumentError(absl::StrCat("message type ", type, " has ",
                                                       (*ar).remaining(), " trailing bytes"));
      }
    } catch (const cereal::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed message type ", type, ": ", e.what()));
    }
    return Variant(std::in_place_index<I>, std::move(message));
  }
}

template <class Variant, size_t I = 0, size_t J = I + 1>
constexpr bool wire_types_unique() {
  if constexpr (I >= std::variant_size_v<Variant>) {
    return true;
  } else if constexpr (J >= std::variant_size_v<Variant>) {
    return wire_types_unique<Variant, I + 1, I + 2>();
  } else {
    return std::variant_alternative_t<I, Variant>::kWireType !=
               std::variant_alternative_t<J, Variant>::kWireType &&
           wire_types_unique<Variant, I, J + 1>();
  }
}

}  // namespace internal

template <class Variant>
absl::StatusOr<Variant> decode(std::string_view bytes) {
  static_assert(internal::wire_types_unique<Variant>(), "two messages share a kWireType");
  absl::StatusOr<uint16_t> type = peek_type(bytes);
  if (!type.ok()) return type.status();
  return internal::decode_alternative<Variant>(*type, bytes.substr(sizeof(uint16_t)));
}

// Decodes a single known message type (for tests and for files holding one struct).
template <WireMessage T>
absl::StatusOr<T> decode_as(std::string_view bytes) {
  absl::StatusOr<std::variant<T>> v = decode<std::variant<T>>(bytes);
  if (!v.ok()) return v.status();
  return std::get<0>(std::move(*v));
}

}  // namespace walle::wire
