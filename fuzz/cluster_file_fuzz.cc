// libFuzzer target: arbitrary text as the cluster file. It must never crash, and what it
// accepts must be usable: a cluster id, at least one server and one stream, server ids in the
// servers' range, and every stream a name the storage engine can open (a name it refused would
// only fail later, on every server). Parsing is deterministic: the same text, the same result.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/link/handshake.h"
#include "core/storage/store_files.h"
#include "core/util/check.h"
#include "runtime/cluster_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walle;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<runtime::ClusterFile> file = runtime::parse_cluster_file(text, "fuzz");
  absl::StatusOr<runtime::ClusterFile> again = runtime::parse_cluster_file(text, "fuzz");
  WALLE_CHECK(file.ok() == again.ok());
  if (!file.ok()) {
    WALLE_CHECK(file.status() == again.status());
    WALLE_CHECK(!file.status().message().empty());
    return 0;
  }
  WALLE_CHECK(!file->cluster_id.empty());
  WALLE_CHECK(!file->servers.empty());
  WALLE_CHECK(!file->streams.empty());
  WALLE_CHECK(file->servers.size() == again->servers.size() && file->streams == again->streams);
  for (const auto& [id, address] : file->servers) WALLE_CHECK(id < link::kFirstClientId);
  for (const std::string& stream : file->streams) {
    WALLE_CHECK_MSG(storage::validate_store_name(stream).ok(),
                    "the cluster file accepted a stream the storage engine cannot open");
  }
  return 0;
}
