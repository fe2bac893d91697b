#pragma once

#include <string>

#include "core/env/node_id.h"

namespace walle {

// Moves encoded messages between nodes.
//
// Contract (what the protocol may rely on, in both worlds):
// - A message arrives whole or not at all; the bytes are exactly those sent.
// - Delivery is best effort: a message may be lost at any time (a connection reset, a
//   partition, a crashed peer). The receiver learns of a lost connection through
//   Node::connection_lost(), but a missing notification proves nothing.
// - Production TCP delivers in order per connection. The simulator can also drop, duplicate
//   and reorder single messages: protocol *safety* must never depend on ordering or on
//   exactly-once delivery; only liveness may assume that retries eventually get through.
class Transport {
 public:
  virtual ~Transport() = default;

  // Queues one encoded message for `to`. Never blocks and never fails synchronously; a message
  // to oneself is delivered locally (after the current step), one to an unknown node dropped.
  virtual void send(NodeId to, std::string bytes) = 0;
};

}  // namespace walle
