#include "sim/trace.h"

#include <xxhash.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace walle::sim {

std::string_view trace_kind_name(TraceKind kind) {
  switch (kind) {
    case TraceKind::kSend: return "send";
    case TraceKind::kDeliver: return "deliver";
    case TraceKind::kDrop: return "drop";
    case TraceKind::kDuplicate: return "duplicate";
    case TraceKind::kConnectionReset: return "reset";
    case TraceKind::kTimerFire: return "timer";
    case TraceKind::kDiskOp: return "disk";
    case TraceKind::kDiskFault: return "disk-fault";
    case TraceKind::kCrash: return "crash";
    case TraceKind::kRestart: return "restart";
    case TraceKind::kPause: return "pause";
    case TraceKind::kResume: return "resume";
    case TraceKind::kWipe: return "wipe";
    case TraceKind::kPartition: return "partition";
    case TraceKind::kHeal: return "heal";
    case TraceKind::kClog: return "clog";
    case TraceKind::kWorkload: return "workload";
  }
  return "?";
}

void Trace::record(int64_t time_ns, NodeId node, TraceKind kind, uint64_t a, uint64_t b) {
  struct Packed {
    int64_t time_ns;
    uint64_t a;
    uint64_t b;
    uint32_t node;
    uint32_t kind;
  } packed{time_ns, a, b, node, static_cast<uint32_t>(kind)};
  digest_ = XXH3_64bits_withSeed(&packed, sizeof(packed), digest_);
  ++events_;
}

void Trace::text(int64_t time_ns, NodeId node, std::string_view line) {
  if (text_sink_ == nullptr) return;
  const int64_t seconds = time_ns / 1000000000;
  const int64_t nanos = time_ns % 1000000000;
  if (node == kInvalidNodeId) {
    absl::FPrintF(text_sink_, "%4d.%09ds  --  %s\n", seconds, nanos, line);
  } else {
    absl::FPrintF(text_sink_, "%4d.%09ds  n%-2d %s\n", seconds, nanos, node, line);
  }
}

uint64_t content_hash(std::string_view bytes) {
  return XXH3_64bits_withSeed(bytes.data(), std::min(bytes.size(), kContentHashBytes),
                              bytes.size());
}

}  // namespace walle::sim
