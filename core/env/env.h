#pragma once

#include "core/env/buggify.h"
#include "core/env/clock.h"
#include "core/env/coverage.h"
#include "core/env/event_log.h"
#include "core/env/file_system.h"
#include "core/env/node_id.h"
#include "core/env/random.h"
#include "core/env/transport.h"

namespace walle {

// What a process's logic may touch of the world apart from disk: all a client needs (a client
// process has no files). Nothing in core/ reaches the OS any other way; the simulator and the
// production runtime each provide an implementation.
struct NetworkEnv {
  NodeId self;
  Clock& clock;
  Transport& transport;
  Random& random;
  // Fault points (WALLE_BUGGIFY); nullptr in production.
  Buggify* buggify = nullptr;
  // Readable events for a person following a run; nullptr: none.
  EventLog* events = nullptr;
  // Paths taken, counted for the simulator's coverage table; nullptr: not counted.
  Coverage* coverage = nullptr;
};

// A server's world: the network's, and its files.
struct Env : NetworkEnv {
  FileSystem& files;
};

}  // namespace walle
