#pragma once

#include <memory>

#include "sim/workload.h"

namespace walle::sim::protocol_workload {

// Many streams on one cluster (issue "Many streams per server"): every member hosts all of
// them, in one data directory and one file system, and each stream has its own competing
// writers, its own reader and its own Checker (durability, agreement, exclusivity, lease
// safety, promises), with the corruption budget per stream and liveness per stream after
// healing. What it adds to `protocol`: streams sharing a member's disk, event loop and
// message routing must not disturb each other's guarantees.
std::unique_ptr<Workload> make_multi_stream_workload();

}  // namespace walle::sim::protocol_workload
