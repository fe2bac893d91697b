#pragma once

// How many data files' descriptors a server may keep open: its RLIMIT_NOFILE, raised to the
// hard limit, less what its connections and its own plumbing need.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace walle::runtime {

// Descriptors a server holds besides data files and connections: the directory and its lock,
// epoll, timers, the event fd, listening sockets, logs, with room to spare.
inline constexpr size_t kReservedDescriptors = 64;
// Fewer open data files than this would thrash (each stream has a head segment and metadata).
inline constexpr size_t kMinOpenFiles = 16;

struct DescriptorBudget {
  size_t max_open_files = 0;
  std::string warning;  // non-empty: the limit is tight, say so in the log
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit, then returns the data files'
// descriptor cap: `requested` if it fits, else an error that says which limit to raise. With
// `requested` 0, all that fits; if that is next to nothing (a 1024 limit and 1024 connections)
// the server still starts, with half the limit and a warning: a small server needs few files.
absl::StatusOr<DescriptorBudget> data_file_descriptor_budget(size_t requested,
                                                             size_t max_connections);

}  // namespace walle::runtime
