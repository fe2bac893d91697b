#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/env/coverage.h"

namespace walle::sim {

// Counts of what the simulated world did, so tests can prove that faults actually fired and
// benchmarks can report the work a seed does.
struct SimStats {
  // Network.
  uint64_t messages_sent = 0;
  uint64_t messages_delivered = 0;
  uint64_t bytes_sent = 0;
  uint64_t dropped_random = 0;     // lost by the drop fault
  uint64_t dropped_partition = 0;  // lost to a partition or one-way block
  uint64_t dropped_reset = 0;      // in flight on a connection that was reset
  uint64_t dropped_node_down = 0;  // arrived at a crashed node
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  uint64_t clogged = 0;  // delayed by a clog
  uint64_t connection_resets = 0;
  uint64_t partitions = 0;
  // Byte-stream links (NetworkConfig::byte_streams).
  uint64_t stream_connections = 0;      // opened, each with a handshake
  uint64_t stream_handshakes = 0;       // ends whose handshake completed
  uint64_t stream_writes = 0;           // pieces the streams were cut into
  uint64_t stream_corrupted_writes = 0; // writes that arrived with a flipped bit
  uint64_t stream_bad_frames = 0;       // frames the receiver refused (the connection reset)
  uint64_t stream_overflows = 0;        // connections dropped at the send bound

  // Disk.
  uint64_t disk_writes = 0;
  uint64_t disk_bytes_written = 0;
  uint64_t disk_reads = 0;
  uint64_t disk_syncs = 0;
  uint64_t slow_syncs = 0;
  uint64_t lost_unsynced_sectors = 0;   // reverted to their durable content at a crash
  uint64_t landed_unsynced_sectors = 0; // kept at a crash although never synced
  uint64_t torn_crashes = 0;            // crashes that kept some dirty sectors and lost others
  uint64_t lost_dir_ops = 0;            // unsynced creates/renames/removes undone by a crash
  uint64_t bit_flips = 0;
  uint64_t read_errors = 0;  // reads failed by a transient or latent error
  uint64_t latent_errors_injected = 0;
  uint64_t enospc_errors = 0;

  // Processes and clocks.
  uint64_t crashes = 0;
  uint64_t restarts = 0;
  uint64_t pauses = 0;
  uint64_t wipes = 0;
  // Members that ended a run refusing to open because both metadata copies were bad (they
  // wait for an operator: judged as down, not as a liveness failure).
  uint64_t metadata_halts = 0;
  uint64_t timers_fired = 0;
  uint64_t buggify_fired = 0;  // code-level fault points that fired

  // Targeted scenarios (sim/tail_rot_scenario.h, sim/power_loss_scenario.h) that struck.
  uint64_t tail_rots = 0;    // rot landed on a victim's newest live records
  uint64_t power_losses = 0; // every node lost power at once
  uint64_t split_brains = 0; // a writer cut off with one member while another took over
  uint64_t lease_takeovers = 0;  // a live lease's props taken away, then a takeover
  uint64_t torn_restarts = 0;    // members of those crashed right after a write, tearing it
  uint64_t clogged_writers = 0;  // writers of those whose messages were held past their lease

  // Protocol and recovery paths taken (core/env/coverage.h), by CoveragePath.
  std::array<uint64_t, kCoveragePaths> coverage{};

  std::string to_string() const;
  std::string coverage_line() const;  // "\ncoverage: name=count ..." of the paths taken
  std::string stream_line() const;    // "\nstreams: ..." when byte-stream links ran
};

}  // namespace walle::sim
