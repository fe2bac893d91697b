#pragma once

#include <string_view>

#include "core/env/node_id.h"

namespace walle {

// A process's logic: a single-threaded state machine that reacts to events and returns.
//
// The host (the simulator or the production runtime) constructs it with an Env, calls start()
// once, then delivers messages and connection losses. Timers and I/O completions arrive
// through the callbacks the node handed to its Env. A crash destroys the Node without warning;
// none of its pending callbacks run afterwards. A restart constructs a fresh Node over the
// same (durable part of the) disk.
class Node {
 public:
  virtual ~Node() = default;

  virtual void start() = 0;

  // One message, as encoded by the sender. Bytes may be malformed: decode and reject.
  virtual void receive(NodeId from, std::string_view bytes) = 0;

  // The connection to `peer` broke; messages sent to it recently may be lost.
  virtual void connection_lost(NodeId peer) {}

  // Checks the relations between the fields of the node's state machines (WALLE_CHECK), and
  // changes nothing. The simulator runs it after every step when WALLE_EXPENSIVE_CHECKS is
  // defined, so a broken invariant fails the seed at the step that broke it.
  virtual void check_invariants() const {}
};

}  // namespace walle
