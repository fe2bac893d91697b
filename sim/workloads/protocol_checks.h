#pragma once

// What the protocol workloads share after the checkers' per-step judgement: running the
// simulation under them, and the end-of-run checks over the members' logs.

#include <cstdint>
#include <optional>
#include <vector>

#include "core/storage/journal.h"
#include "sim/simulation.h"
#include "sim/workloads/protocol_checker.h"

namespace walle::sim::protocol_workload {

class ProtocolClient;

// Steps the simulation to `until_ns`, each checker judging every step; stops stepping at the
// first failure (the rest of the window then runs unjudged, as the run ends anyway).
void run_checked(Simulation& sim, const std::vector<Checker*>& checkers, int64_t until_ns);

// Whether every client in `registry` wrote all its `entries`.
bool all_written(const std::vector<ProtocolClient*>& registry, uint64_t entries);

// After healing, for the checker's stream on its members: liveness (gaps
// filled, acknowledged entries committed on a majority, readers caught up), index consistency
// (every committed id readable or listed missing), and agreement (every committed entry a
// member holds is the acknowledged one). The first failure goes to `checker`.
void check_members(Simulation& sim, Checker& checker,
                   const std::vector<ProtocolClient*>& registry);

// The `journal` parameter of a protocol workload: 1 every member's stores sync through a
// shared journal (small segments, so it checkpoints and trims often), 0 each store syncs its
// own files, -1 the seed picks (half of them, from their own stream: the swarm's other
// choices stay as they were).
inline constexpr const char* kJournalParameter =
    "journal=-1    1: members sync every store through one shared journal; 0: each store "
    "its own files; -1: the seed picks, half and half";
std::optional<storage::JournalOptions> journal_for(int64_t param, uint64_t seed);

}  // namespace walle::sim::protocol_workload
