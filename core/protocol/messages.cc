#include "core/protocol/messages.h"

namespace walle::protocol {

WireStatus WireStatus::from(const absl::Status& status) {
  return WireStatus{static_cast<uint8_t>(status.code()), std::string(status.message())};
}

absl::Status WireStatus::to_status() const {
  // Codes are absl's; a code this build does not know is kUnknown, never a crash.
  const auto code_value = static_cast<absl::StatusCode>(this->code);
  const bool known = this->code <= static_cast<uint8_t>(absl::StatusCode::kUnauthenticated);
  return absl::Status(known ? code_value : absl::StatusCode::kUnknown, message);
}

}  // namespace walle::protocol
