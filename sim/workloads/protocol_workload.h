#pragma once

#include <memory>

#include "sim/workload.h"

namespace walle::sim::protocol_workload {

// The replication protocol under swarm-chosen faults: members serving one stream, and clients
// that claim it, write pipelined entries and compete for it. Checks durability and agreement
// (every acknowledged entry is in every later claim's chain and on the members, with one
// checksum per id), exclusivity (no older writer's entry is acknowledged beyond a newer
// claim's tail), lease safety (no writer commits while another believes its lease valid) and
// liveness after healing.
std::unique_ptr<Workload> make_protocol_workload();

}  // namespace walle::sim::protocol_workload
