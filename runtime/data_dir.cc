#include "runtime/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "disk/errno_status.h"

namespace walle::runtime {
namespace {

constexpr char kIdentityFile[] = "IDENTITY";

absl::Status write_synced(const std::string& dir, const std::string& name,
                          const std::string& contents) {
  const std::string tmp = dir + "/" + name + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return disk::ErrnoToStatus(errno, "create " + tmp);
  const ssize_t n = ::write(fd, contents.data(), contents.size());
  const int write_errno = errno;
  if (n != static_cast<ssize_t>(contents.size()) || ::fsync(fd) != 0) {
    ::close(fd);
    return disk::ErrnoToStatus(n < 0 ? write_errno : errno, "write " + tmp);
  }
  ::close(fd);
  const std::string final_path = dir + "/" + name;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return disk::ErrnoToStatus(errno, "rename " + tmp);
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return disk::ErrnoToStatus(errno, "open " + dir);
  const int synced = ::fsync(dir_fd);
  const int sync_errno = errno;
  ::close(dir_fd);
  if (synced != 0) return disk::ErrnoToStatus(sync_errno, "fsync " + dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status claim_data_dir(const std::string& dir, std::string_view cluster_id, NodeId node) {
  const std::string path = dir + "/" + kIdentityFile;
  const std::string want = absl::StrCat("cluster ", std::string(cluster_id), "\nnode ", node, "\n");
  std::ifstream in(path);
  if (!in) {
    if (errno != ENOENT) return disk::ErrnoToStatus(errno, "read " + path);
    return write_synced(dir, kIdentityFile, want);
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string found_cluster;
  std::string found_node;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "cluster") found_cluster = std::string(kv.second);
    if (kv.first == "node") found_node = std::string(kv.second);
  }
  if (found_cluster.empty() || found_node.empty()) {
    return absl::DataLossError(absl::StrCat(path, " is damaged (no cluster or node line); it was "
                                            "written by walle and must not be edited"));
  }
  if (found_cluster != cluster_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the data dir ", dir, " belongs to cluster '", found_cluster, "', not '",
        std::string(cluster_id), "'"));
  }
  if (found_node != absl::StrCat(node)) {
    return absl::FailedPreconditionError(absl::StrCat("the data dir ", dir, " belongs to node ",
                                                      found_node, ", not ", node));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_secret_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return disk::ErrnoToStatus(errno, "the secret file " + path);
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the secret file ", path, " is readable by others (run: chmod 600 ", path, ")"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the secret file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat("the secret file ", path, " is empty"));
  return secret;
}

}  // namespace walle::runtime
