#pragma once

#include <functional>
#include <vector>

#include "core/env/node_id.h"

namespace walle::sim::protocol_workload {

// What a targeted scenario needs of the protocol workload's clients.
struct ScenarioClients {
  std::vector<NodeId> ids;
  std::function<bool(NodeId)> writing;                 // holds an open writer
  std::function<bool(NodeId)> has_work;                // has entries left to write
  std::function<void(NodeId, bool preempt)> claim_now;  // starts a claim if it can
  // Where the workload calls a client's id when its claim succeeded, before it writes.
  std::function<void(NodeId)>* writer_started;
};

}  // namespace walle::sim::protocol_workload
