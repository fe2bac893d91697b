#include "runtime/cluster_file.h"

#include <arpa/inet.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/link/handshake.h"
#include "core/storage/store_files.h"

namespace walle::runtime {
namespace {

absl::StatusOr<net::Address> parse_address(absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not HOST:PORT"));
  }
  net::Address a;
  a.host = std::string(text.substr(0, colon));
  in_addr parsed;
  if (inet_pton(AF_INET, a.host.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", a.host, "' is not an IPv4 address (names are not resolved)"));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': the port must be 1..65535"));
  }
  a.port = static_cast<uint16_t>(port);
  return a;
}

bool valid_name(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<NodeId> ClusterFile::server_ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, address] : servers) ids.push_back(id);
  return ids;
}

absl::StatusOr<ClusterFile> parse_cluster_file(std::string_view text, std::string_view origin) {
  ClusterFile file;
  std::set<std::string> addresses;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_number;
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(origin), " line ", line_number, ": ", why));
    };
    if (words[0] == "cluster") {
      if (words.size() != 2 || !valid_name(words[1])) {
        return error("want 'cluster NAME' (letters, digits, - _ .)");
      }
      if (!file.cluster_id.empty()) return error("a second 'cluster' line");
      file.cluster_id = std::string(words[1]);
    } else if (words[0] == "server") {
      uint32_t id = 0;
      if (words.size() != 3 || !absl::SimpleAtoi(words[1], &id)) {
        return error("want 'server ID HOST:PORT'");
      }
      if (id >= link::kFirstClientId) {
        return error(absl::StrCat("server ids must be below ", link::kFirstClientId,
                                  " (higher ones are clients')"));
      }
      absl::StatusOr<net::Address> address = parse_address(words[2]);
      if (!address.ok()) return error(address.status().message());
      if (file.servers.contains(id)) return error(absl::StrCat("server ", id, " listed twice"));
      if (!addresses.insert(std::string(words[2])).second) {
        return error(absl::StrCat("address ", words[2], " listed twice"));
      }
      file.servers.emplace(id, *address);
    } else if (words[0] == "stream") {
      if (words.size() != 2) return error("want 'stream NAME'");
      // The storage engine's rule, so that every stream the file names can be opened.
      if (absl::Status valid = storage::validate_store_name(std::string(words[1])); !valid.ok()) {
        return error(valid.message());
      }
      for (const std::string& s : file.streams) {
        if (s == words[1]) return error(absl::StrCat("stream ", words[1], " listed twice"));
      }
      file.streams.emplace_back(words[1]);
    } else {
      return error(absl::StrCat("unknown keyword '", words[0], "' (cluster, server, stream)"));
    }
  }
  const std::string where(origin);
  if (file.cluster_id.empty()) return absl::InvalidArgumentError(where + ": no 'cluster' line");
  if (file.servers.empty()) return absl::InvalidArgumentError(where + ": no 'server' line");
  if (file.streams.empty()) return absl::InvalidArgumentError(where + ": no 'stream' line");
  return file;
}

absl::StatusOr<ClusterFile> read_cluster_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the cluster file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_cluster_file(text.str(), path);
}

}  // namespace walle::runtime
