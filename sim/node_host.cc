#include "sim/node_host.h"

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim {

NodeHost::NodeHost(Simulation& sim, NodeId id, int64_t clock_origin_ns, int64_t drift_ppm,
                   uint64_t seed)
    : sim_(sim),
      id_(id),
      clock_(*this, clock_origin_ns, drift_ppm),
      transport_(sim.network(), id),
      disk_(*this, sim.config().disk),
      app_prng_(Prng(seed).fork(1)),
      fault_prng_(Prng(seed).fork(2)),
      buggify_(Prng(seed).fork(3), &coverage_, &sim.stats().buggify_fired),
      env_{{id, clock_, transport_, app_prng_, sim.config().buggify ? &buggify_ : nullptr,
            &events_, &coverage_},
           disk_} {}

void NodeHost::StatsCoverage::hit(CoveragePath path) {
  ++host_.sim_.stats().coverage[static_cast<size_t>(path)];
}

bool NodeHost::TraceEvents::enabled() const { return host_.sim_.trace().text_enabled(); }

void NodeHost::TraceEvents::write(std::string_view line) {
  host_.sim_.trace().text(host_.sim_.now_ns(), host_.id_, line);
}

NodeHost::~NodeHost() { sim_.scheduler().cancel_owned(this); }

void NodeHost::post_at(int64_t at_ns, absl::AnyInvocable<void()> action) {
  sim_.scheduler().schedule_at(at_ns, std::move(action), this);
}

void NodeHost::run_owned(Scheduler::Action& action) {
  // A crash cancelled everything posted before it: what is due belongs to this incarnation.
  run_guarded(incarnation_, std::move(action));
}

void NodeHost::run_guarded(uint64_t incarnation, absl::AnyInvocable<void()> action) {
  if (incarnation != incarnation_ || node_ == nullptr) return;  // for a dead process
  if (paused_) {
    deferred_.push_back(std::move(action));
    return;
  }
  action();
#ifdef WALLE_EXPENSIVE_CHECKS
  // After every step of the process: a broken invariant fails the seed where it broke.
  if (node_ != nullptr) node_->check_invariants();
#endif
}

void NodeHost::boot(const NodeFactory& factory) {
  WALLE_CHECK(node_ == nullptr);
  ++incarnation_;
  paused_ = false;
  node_ = factory(env_);
  WALLE_CHECK_MSG(node_ != nullptr, "the node factory returned no node");
  post_at(sim_.now_ns(), [this] { node_->start(); });
}

void NodeHost::crash(std::optional<CrashMode> mode) {
  WALLE_CHECK(node_ != nullptr);
  node_.reset();  // closes its files first: the disk then decides what survived
  ++incarnation_;
  paused_ = false;
  // Pending callbacks may own state of the dead process (an open in progress holds files).
  sim_.scheduler().cancel_owned(this);
  deferred_.clear();
  clock_.clear_timers();
  disk_.crash(mode.value_or(disk_.random_crash_mode()));
}

void NodeHost::pause() {
  WALLE_CHECK(node_ != nullptr);
  paused_ = true;
}

void NodeHost::resume() {
  if (!paused_) return;
  paused_ = false;
  // Everything that came due while paused runs now, in its original order.
  std::vector<absl::AnyInvocable<void()>> due = std::move(deferred_);
  deferred_.clear();
  for (auto& action : due) post_at(sim_.now_ns(), std::move(action));
}

}  // namespace walle::sim
