#pragma once

#include <memory>

#include "sim/workload.h"

namespace walle::sim::counter {

// The demo workload: CounterNodes under swarm-chosen faults, checked for durability (a synced
// value is never lost unless the disk was corrupted and the node said so), integrity (no value
// appears that was never written) and liveness (after healing, counters advance and gossip
// reaches every peer).
std::unique_ptr<Workload> make_counter_workload();

}  // namespace walle::sim::counter
