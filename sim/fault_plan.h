#pragma once

#include <cstdint>
#include <string>

#include "core/env/clock.h"
#include "sim/config.h"
#include "sim/prng.h"

namespace walle::sim {

// Which process, network and disk faults the nemesis injects during a run, and how often.
// Rates are per second of simulated time, over the whole cluster. Per-message and per-I/O
// fault probabilities live in SimConfig (network, disk); swarm() sets both.
struct FaultPlan {
  double crash_per_second = 0;
  int64_t restart_delay_max_ns = 500 * kNanosPerMilli;
  double wipe_probability = 0;  // a crashed node comes back with an empty disk
  double pause_per_second = 0;
  int64_t pause_max_ns = 300 * kNanosPerMilli;
  double partition_per_second = 0;
  double one_way_fraction = 0.3;  // of partitions, how many block one direction only
  int64_t partition_max_ns = 800 * kNanosPerMilli;
  double clog_per_second = 0;
  int64_t clog_max_ns = 200 * kNanosPerMilli;
  double reset_per_second = 0;
  double bit_flip_per_second = 0;
  double latent_error_per_second = 0;

  // No faults at all.
  static FaultPlan none() { return FaultPlan{}; }

  // Swarm testing: each fault class is switched on or off at random and gets random rates, so
  // that across seeds rare combinations get explored. Also randomizes the per-message and
  // per-I/O fault probabilities in `config`.
  static FaultPlan swarm(Prng& prng, SimConfig& config);

  // One line naming every fault that is on, for failure reports.
  std::string describe() const;
};

// One line describing the per-message and per-I/O settings of a config.
std::string describe_config(const SimConfig& config);

}  // namespace walle::sim
