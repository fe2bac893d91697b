#pragma once

// The static cluster file, until the topology issue puts membership in a root stream (as
// etcd's --initial-cluster): which servers exist, where they listen, which streams they host.
//
//   # comments and blank lines are ignored
//   cluster prod                    # the cluster id; every server and client must agree
//   server 0 127.0.0.1:7100         # node id, IPv4 address and port
//   server 1 127.0.0.1:7101
//   server 2 127.0.0.1:7102
//   stream orders                   # hosted by every server
//   stream payments
//
// Parsing is strict: an unknown keyword, a duplicate id, address or stream, a malformed
// address or a missing section is an error naming the line.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/env/node_id.h"
#include "net/tcp_transport.h"

namespace walle::runtime {

struct ClusterFile {
  std::string cluster_id;
  std::map<NodeId, net::Address> servers;
  std::vector<std::string> streams;

  std::vector<NodeId> server_ids() const;
};

// `origin` names the text in errors (a path).
absl::StatusOr<ClusterFile> parse_cluster_file(std::string_view text, std::string_view origin);
absl::StatusOr<ClusterFile> read_cluster_file(const std::string& path);

}  // namespace walle::runtime
