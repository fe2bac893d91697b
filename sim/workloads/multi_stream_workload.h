#pragma once

#include <memory>

#include "sim/workload.h"

namespace walle::sim::protocol_workload {

// Many streams on one cluster (issue "Many streams per server"), each on its own subset of
// the members (MemberOptions::stream_members) or on all of them, a member's streams sharing
// one data directory and file system; each stream has its own competing writers, its own
// reader and its own Checker (durability, agreement, exclusivity, lease safety, promises),
// with the corruption budget per stream and liveness per stream after healing. What it adds
// to `protocol`: streams sharing members' disks, event loops and message routing must not
// disturb each other's guarantees.
std::unique_ptr<Workload> make_multi_stream_workload();

}  // namespace walle::sim::protocol_workload
