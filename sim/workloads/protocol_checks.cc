#include "sim/workloads/protocol_checks.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "core/storage/stream_store.h"
#include "sim/workloads/protocol_client.h"

namespace walle::sim::protocol_workload {

void run_checked(Simulation& sim, const std::vector<Checker*>& checkers, int64_t until_ns) {
  auto all_ok = [&checkers] {
    for (const Checker* c : checkers) {
      if (!c->status().ok()) return false;
    }
    return true;
  };
  while (all_ok() && sim.scheduler().pending() > 0 && sim.scheduler().next_time_ns() <= until_ns) {
    sim.step();
    for (Checker* c : checkers) c->check_step();
  }
  if (all_ok()) sim.run_until(until_ns);
}

bool all_written(const std::vector<ProtocolClient*>& registry, uint64_t entries) {
  for (const ProtocolClient* c : registry) {
    if (c != nullptr && c->written() < entries) return false;
  }
  return true;
}


// Agreement and durability on the members: every committed entry a member holds is the one
// acknowledged at that id.
void check_members(Simulation& sim, Checker& checker,
                   const std::vector<ProtocolClient*>& registry) {
  const std::vector<NodeId>& members = checker.members();
  // Liveness after healing: gaps are filled, and what was acknowledged is committed (visible
  // to readers) on a majority: announced by its writer, or resolved by the members.
  // Entries acknowledged in the last second may still await their announcement.
  const uint64_t settled = checker.max_acked_by(sim.now_ns() - kNanosPerSecond);
  uint32_t caught_up = 0;
  for (const NodeId m : members) {
    storage::StreamStore* store = member_store(sim, m, checker.stream());
    if (store == nullptr) {
      // Both metadata copies rotted (latent errors on a corruptible member): it lost its
      // promises and must stay out until restored or replaced, a clean reported halt. The
      // others still need a majority caught up below.
      const absl::Status open_failure = member_open_failure(sim, m, checker.stream());
      if (storage::lost_metadata(open_failure)) {
        ++sim.stats().metadata_halts;
        continue;
      }
      checker.fail(absl::StrCat("liveness: member ", m,
                                " is not serving stream ", checker.stream(), " by the end of the heal window (",
                                open_failure.ToString(), ")"));
      return;
    }
    if (!store->missing().empty()) {
      checker.fail(absl::StrCat("liveness: member ", m, " still misses committed entries ",
                                store->missing().to_string(), " after healing"));
      return;
    }
    caught_up += store->committed_id() >= settled;
  }
  if (caught_up < members.size() / 2 + 1) {
    checker.fail(absl::StrCat("liveness: acknowledged entries up to ", settled,
                              " are committed on only ", caught_up, " members after healing"));
    return;
  }
  for (NodeId n = 0; n < registry.size(); ++n) {
    const ProtocolClient* client = registry[n];
    if (client != nullptr && client->reads() && client->read_through() < settled) {
      checker.fail(absl::StrCat("liveness: client ", n, " has read through entry ",
                                client->read_through(), " of ", settled,
                                " acknowledged, after healing"));
      return;
    }
  }
  for (const NodeId m : members) {
    if (!checker.status().ok()) break;
    storage::StreamStore* store = member_store(sim, m, checker.stream());
    if (store == nullptr) continue;
    uint64_t from = std::max<uint64_t>(1, store->meta().first_entry_id);
    while (from <= store->committed_id() && checker.status().ok()) {
      std::optional<absl::StatusOr<std::vector<Entry>>> read;
      store->read(from, store->committed_id() + 1, 1 << 20, false,
                  [&read](absl::StatusOr<std::vector<Entry>> r) { read = std::move(r); });
      while (!read && sim.step()) {
      }
      // Index consistency: every id up to the commit point is readable or listed missing
      // (a read that finds damage lists it).
      const bool got = read && read->ok() && !(*read)->empty();
      if (!got || (*read)->front().id != from) {
        if (store->missing().contains(from)) {
          ++from;
          continue;
        }
        checker.fail(absl::StrCat(
            "index: member ", m, " cannot read committed entry ", from, " (",
            !read ? "no answer" : !read->ok() ? read->status().ToString() : got ? "a gap" : "empty",
            ") and does not list it missing"));
        return;
      }
      for (const Entry& e : **read) {
        auto acked = checker.acked().find(e.id);
        if (acked != checker.acked().end() && acked->second.first != e.checksum) {
          checker.fail(absl::StrCat("agreement: member ", m, " holds committed entry ", e.id,
                                    " different from the acknowledged one"));
          return;
        }
        from = e.id + 1;
      }
    }
  }
}

std::optional<storage::JournalOptions> journal_for(int64_t param, uint64_t seed) {
  const bool journaled = param == 1 || (param == -1 && Prng(seed).fork(0x6a6f75).chance(0.5));
  if (!journaled) return std::nullopt;
  storage::JournalOptions options;
  options.segment_bytes = 64 << 10;
  options.checkpoint_segments = 2;
  options.checkpoint_parallelism = 2;
  return options;
}

}  // namespace walle::sim::protocol_workload
