#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "core/env/env.h"
#include "core/env/node.h"
#include "sim/network.h"
#include "sim/prng.h"
#include "sim/scheduler.h"
#include "sim/sim_buggify.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"

namespace walle::sim {

class Simulation;

using NodeFactory = std::function<std::unique_ptr<Node>(Env&)>;

// One simulated machine: its clock, disk and network endpoint survive crashes; the Node (the
// process) does not. Every callback handed to the process is tagged with its incarnation, so
// that nothing of a crashed process ever runs again.
class NodeHost final : private Scheduler::Owner {
 public:
  NodeHost(Simulation& sim, NodeId id, int64_t clock_origin_ns, int64_t drift_ppm, uint64_t seed);
  ~NodeHost();
  NodeHost(const NodeHost&) = delete;
  NodeHost& operator=(const NodeHost&) = delete;

  NodeId id() const { return id_; }
  Simulation& sim() { return sim_; }
  bool up() const { return node_ != nullptr; }
  SimBuggify& buggify() { return buggify_; }
  bool paused() const { return paused_; }
  uint64_t incarnation() const { return incarnation_; }
  Node* node() { return node_.get(); }
  SimClock& clock() { return clock_; }
  SimDisk& disk() { return disk_; }
  // Randomness of the machine's faults (disk), apart from the process's own Env::random.
  Prng& fault_prng() { return fault_prng_; }

  // Runs `action` at simulated time `at_ns` for the current incarnation of the process: it is
  // dropped if the process crashes first, and held until resume() while the process is paused.
  void post_at(int64_t at_ns, absl::AnyInvocable<void()> action);

  // Starts a fresh process over the durable disk. Requires !up().
  void boot(const NodeFactory& factory);
  // Kills the process: no callback of it runs again; the disk loses unsynced writes as
  // `mode` says (default: a mode drawn from the disk's config).
  void crash(std::optional<CrashMode> mode = std::nullopt);
  void pause();
  void resume();

 private:
  void run_guarded(uint64_t incarnation, absl::AnyInvocable<void()> action);
  // Posted actions: the scheduler holds them and a crash destroys them at once
  // (Scheduler::cancel_owned), so nothing a dead process allocated (open files among it)
  // outlives it.
  void run_owned(Scheduler::Action& action) override;

  Simulation& sim_;
  NodeId id_;
  SimClock clock_;
  SimTransport transport_;
  SimDisk disk_;
  Prng app_prng_;
  Prng fault_prng_;
  SimBuggify buggify_;
  // Protocol events into the readable trace (never into the digest).
  class TraceEvents final : public EventLog {
   public:
    explicit TraceEvents(NodeHost& host) : host_(host) {}
    bool enabled() const override;
    void write(std::string_view line) override;

   private:
    NodeHost& host_;
  };
  TraceEvents events_{*this};
  // Counts paths into the simulation's stats.
  class StatsCoverage final : public Coverage {
   public:
    explicit StatsCoverage(NodeHost& host) : host_(host) {}
    void hit(CoveragePath path) override;

   private:
    NodeHost& host_;
  };
  StatsCoverage coverage_{*this};
  Env env_;
  std::unique_ptr<Node> node_;
  uint64_t incarnation_ = 0;
  bool paused_ = false;
  std::vector<absl::AnyInvocable<void()>> deferred_;
};

}  // namespace walle::sim
