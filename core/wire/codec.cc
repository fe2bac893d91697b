#include "core/wire/codec.h"

#include <cstring>

namespace walle::wire {

absl::StatusOr<uint16_t> peek_type(std::string_view bytes) {
  if (bytes.size() < sizeof(uint16_t)) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", bytes.size(), " bytes is too short for a type tag"));
  }
  uint16_t type;
  std::memcpy(&type, bytes.data(), sizeof(type));
  return type;
}

}  // namespace walle::wire
