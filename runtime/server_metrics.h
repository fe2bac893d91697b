#pragma once

// The walle server's metrics (docs/operations.md, "Metrics"), read from the parts at scrape
// time: the replicas' counters and state, the disk's latency histograms, the transport's
// counters. Per-stream families carry a `stream` label for at most kMaxLabeledStreams
// streams (by name order); the server-wide totals count every stream.

#include <cstdint>
#include <string>
#include <vector>

#include "core/protocol/member_node.h"
#include "disk/posix_file_system.h"
#include "net/tcp_transport.h"

namespace walle::runtime {

inline constexpr size_t kMaxLabeledStreams = 256;

struct MetricsSources {
  protocol::MemberNode& node;
  const std::vector<std::string>& streams;
  const disk::PosixFileSystem& files;
  const net::TcpTransport& transport;
  uint64_t scrapes = 0;
};

std::string render_server_metrics(const MetricsSources& sources);

}  // namespace walle::runtime
