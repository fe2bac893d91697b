#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace walle::disk {

// The status code the File/FileSystem contract (core/env/file_system.h) gives an errno:
//   ENOSPC, EDQUOT     -> kResourceExhausted (full disk or quota: later writes may succeed)
//   EIO                -> kDataLoss          (unreadable sector, failed writeback)
//   ENOENT             -> kNotFound
//   EINVAL, EFBIG      -> kInvalidArgument   (bad offset or length; EFBIG: past the largest
//                                             file the file system allows)
//   EACCES, EPERM      -> kPermissionDenied
//   anything else      -> kInternal
absl::StatusCode ErrnoToStatusCode(int err);

// A status with that code whose message is "<what>: <strerror text> [<ERRNAME>]", e.g.
// "pwrite /data/wal-1 at offset 4096 (512 bytes): No space left on device [ENOSPC]".
// `what` should name the operation and the file.
absl::Status ErrnoToStatus(int err, std::string_view what);

}  // namespace walle::disk
