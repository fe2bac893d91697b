#include "core/env/file_system.h"

#include "absl/strings/str_cat.h"

namespace walle {

absl::Status ValidateFileName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("file name is empty");
  if (name.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("file name is ", name.size(), " bytes; the limit is 255"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("file name '", std::string(name), "' is reserved"));
  }
  for (char c : name) {
    if (c == '/' || c == '\0') {
      return absl::InvalidArgumentError("file name must not contain '/' or NUL");
    }
  }
  return absl::OkStatus();
}

}  // namespace walle
