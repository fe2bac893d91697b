#pragma once

#include <cstdint>

namespace walle {

// Identifies one server or client process in a cluster. Dense small integers, so that tables
// indexed by node id are vectors, not hash maps.
using NodeId = uint32_t;

inline constexpr NodeId kInvalidNodeId = UINT32_MAX;

}  // namespace walle
