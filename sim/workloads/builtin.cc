#include "core/util/check.h"
#include "sim/workload.h"
#include "sim/workloads/counter_workload.h"
#include "sim/workloads/multi_stream_workload.h"
#include "sim/workloads/protocol_workload.h"

namespace walle::sim {

WorkloadRegistry& builtin_workloads() {
  static WorkloadRegistry* registry = [] {
    auto* r = new WorkloadRegistry();
    WALLE_CHECK(r->add(counter::make_counter_workload()).ok());
    WALLE_CHECK(r->add(protocol_workload::make_protocol_workload()).ok());
    WALLE_CHECK(r->add(protocol_workload::make_multi_stream_workload()).ok());
    return r;
  }();
  return *registry;
}

}  // namespace walle::sim
