#include "disk/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace walle::disk {

absl::StatusCode ErrnoToStatusCode(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return absl::StatusCode::kResourceExhausted;
    case EIO:
      return absl::StatusCode::kDataLoss;
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EINVAL:
    case EFBIG:
      return absl::StatusCode::kInvalidArgument;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status ErrnoToStatus(int err, std::string_view what) {
  // glibc's thread-safe, locale-independent descriptions; null for an unknown errno.
  const char* description = strerrordesc_np(err);
  const char* name = strerrorname_np(err);
  std::string message = absl::StrCat(
      std::string(what), ": ", description != nullptr ? description : absl::StrCat("errno ", err),
      " [", name != nullptr ? name : absl::StrCat("errno ", err), "]");
  return absl::Status(ErrnoToStatusCode(err), message);
}

}  // namespace walle::disk
