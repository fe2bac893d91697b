#include "sim/stats.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace walle::sim {

std::string SimStats::to_string() const {
  return absl::StrFormat(
      "net: sent=%d delivered=%d bytes=%d dropped(random=%d partition=%d reset=%d down=%d) "
      "duplicated=%d reordered=%d clogged=%d resets=%d partitions=%d\n"
      "disk: writes=%d bytes=%d reads=%d syncs=%d slow_syncs=%d lost_sectors=%d "
      "landed_sectors=%d torn_crashes=%d lost_dir_ops=%d bit_flips=%d read_errors=%d "
      "latent_errors=%d enospc=%d\n"
      "process: crashes=%d restarts=%d pauses=%d wipes=%d metadata_halts=%d timers=%d "
      "buggify=%d\n"
      "scenarios: tail_rots=%d power_losses=%d split_brains=%d lease_takeovers=%d "
      "(torn_restarts=%d clogged_writers=%d)",
      messages_sent, messages_delivered, bytes_sent, dropped_random, dropped_partition,
      dropped_reset, dropped_node_down, duplicated, reordered, clogged, connection_resets,
      partitions, disk_writes, disk_bytes_written, disk_reads, disk_syncs, slow_syncs,
      lost_unsynced_sectors, landed_unsynced_sectors, torn_crashes, lost_dir_ops, bit_flips,
      read_errors, latent_errors_injected, enospc_errors, crashes, restarts, pauses, wipes,
      metadata_halts, timers_fired, buggify_fired, tail_rots, power_losses, split_brains,
      lease_takeovers, torn_restarts, clogged_writers) +
         stream_line() + coverage_line();
}

std::string SimStats::stream_line() const {
  if (stream_connections == 0) return "";
  return absl::StrFormat(
      "\nstreams: connections=%d handshakes=%d writes=%d corrupted_writes=%d bad_frames=%d "
      "overflows=%d",
      stream_connections, stream_handshakes, stream_writes, stream_corrupted_writes,
      stream_bad_frames, stream_overflows);
}

std::string SimStats::coverage_line() const {
  std::string line = "\ncoverage:";
  for (size_t i = 0; i < kCoveragePaths; ++i) {
    if (coverage[i] > 0) absl::StrAppend(&line, " ", kCoveragePathNames[i], "=", coverage[i]);
  }
  return line;
}

}  // namespace walle::sim
