#include "sim/fault_plan.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace walle::sim {

FaultPlan FaultPlan::swarm(Prng& prng, SimConfig& config) {
  FaultPlan plan;
  auto on = [&prng] { return prng.chance(0.5); };
  auto rate = [&prng](double low, double high) { return low + (high - low) * prng.unit(); };
  if (on()) plan.crash_per_second = rate(0.2, 3.0);
  if (on()) plan.wipe_probability = rate(0.05, 0.3);
  if (on()) plan.pause_per_second = rate(0.2, 3.0);
  if (on()) plan.partition_per_second = rate(0.2, 3.0);
  if (on()) plan.clog_per_second = rate(0.2, 3.0);
  if (on()) plan.reset_per_second = rate(0.5, 5.0);
  if (on()) plan.bit_flip_per_second = rate(0.1, 2.0);
  if (on()) plan.latent_error_per_second = rate(0.1, 2.0);

  NetworkConfig& net = config.network;
  if (on()) net.drop_probability = rate(0.001, 0.1);
  if (on()) net.duplicate_probability = rate(0.001, 0.05);
  if (on()) net.reorder_probability = rate(0.001, 0.2);
  net.tail_latency_probability = rate(0, 0.05);

  DiskConfig& disk = config.disk;
  disk.sector_size_bytes = on() ? 512 : 4096;
  disk.torn_writes = prng.chance(0.8);
  if (on()) disk.slow_sync_probability = rate(0.001, 0.05);
  if (on()) disk.read_error_probability = rate(0.001, 0.05);
  if (on()) disk.enospc_probability = rate(0.001, 0.05);
  config.max_clock_drift_ppm = prng.uniform_between(0, 1000);
  config.buggify = on();
  return plan;
}

std::string FaultPlan::describe() const {
  std::string out;
  auto add = [&out](const char* name, double value) {
    if (value > 0) absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", absl::StrFormat("%.3g", value));
  };
  add("crash/s", crash_per_second);
  add("wipe_p", wipe_probability);
  add("pause/s", pause_per_second);
  add("partition/s", partition_per_second);
  add("clog/s", clog_per_second);
  add("reset/s", reset_per_second);
  add("bitflip/s", bit_flip_per_second);
  add("latent/s", latent_error_per_second);
  return out.empty() ? "no process/network faults" : out;
}

std::string describe_config(const SimConfig& c) {
  return absl::StrFormat(
      "nodes=%d drift_ppm<=%d net(drop=%.3g dup=%.3g reorder=%.3g tail=%.3g) "
      "disk(sector=%d torn=%d slow_sync=%.3g read_err=%.3g enospc=%.3g) buggify=%d",
      c.node_count, c.max_clock_drift_ppm, c.network.drop_probability,
      c.network.duplicate_probability, c.network.reorder_probability,
      c.network.tail_latency_probability, c.disk.sector_size_bytes, c.disk.torn_writes ? 1 : 0,
      c.disk.slow_sync_probability, c.disk.read_error_probability, c.disk.enospc_probability,
      c.buggify ? 1 : 0);
}

}  // namespace walle::sim
