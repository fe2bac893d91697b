#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/env/node_id.h"

namespace walle::runtime {

// A data directory belongs to one node of one cluster: its IDENTITY file says which
// ("cluster NAME" and "node ID" lines). The first start writes it (synced, then renamed into
// place, then the directory synced); every later start must match, or the server refuses to
// serve another node's or another cluster's data. Call with the directory locked (open the
// PosixFileSystem on it first).
absl::Status claim_data_dir(const std::string& dir, std::string_view cluster_id, NodeId node);

// The cluster secret: the file's bytes, trailing newline removed. Refused when it is empty or
// readable by group or others (as ssh refuses such keys).
absl::StatusOr<std::string> read_secret_file(const std::string& path);

}  // namespace walle::runtime
