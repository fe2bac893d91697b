#pragma once

// How many data files' descriptors a server may keep open: its RLIMIT_NOFILE, raised to the
// hard limit, less what its connections and its own plumbing need.

#include <cstddef>

#include "absl/status/statusor.h"

namespace walle::runtime {

// Descriptors a server holds besides data files and connections: the directory and its lock,
// epoll, timers, the event fd, listening sockets, logs, with room to spare.
inline constexpr size_t kReservedDescriptors = 64;
// Fewer open data files than this would thrash (each stream has a head segment and metadata).
inline constexpr size_t kMinOpenFiles = 16;

// Raises this process's soft RLIMIT_NOFILE to its hard limit, then returns the data files'
// descriptor cap: `requested` if it fits (0: all that fits), else an error that says which
// limit to raise.
absl::StatusOr<size_t> data_file_descriptor_budget(size_t requested, size_t max_connections);

}  // namespace walle::runtime
