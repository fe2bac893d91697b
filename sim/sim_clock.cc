#include "sim/sim_clock.h"

#include "sim/node_host.h"
#include "sim/simulation.h"

namespace walle::sim {

int64_t SimClock::now_ns() const {
  const int64_t sim_ns = host_.sim().now_ns();
  // In 64 bits while the product fits (a run's first ~5 hours at the largest drift): the
  // 128-bit division is a library call, and every clock read pays it.
  constexpr int64_t kFits = INT64_MAX / kMaxClockDriftPpm;
  if (sim_ns >= 0 && sim_ns <= kFits && drift_ppm_ >= -kMaxClockDriftPpm &&
      drift_ppm_ <= kMaxClockDriftPpm) {
    return origin_ns_ + sim_ns + sim_ns * drift_ppm_ / 1000000;
  }
  const __int128 drift = static_cast<__int128>(sim_ns) * drift_ppm_ / 1000000;
  return origin_ns_ + sim_ns + static_cast<int64_t>(drift);
}

int64_t SimClock::to_sim_duration(int64_t local_ns) const {
  if (local_ns <= 0) return 0;
  // Round up, so that the local clock has advanced at least local_ns when the timer fires.
  const __int128 numerator = static_cast<__int128>(local_ns) * 1000000;
  const __int128 denominator = 1000000 + drift_ppm_;
  const __int128 sim_ns = (numerator + denominator - 1) / denominator + 1;
  // Saturate: a timer "never" (INT64_MAX) must not wrap into the past.
  return sim_ns > INT64_MAX / 2 ? INT64_MAX / 2 : static_cast<int64_t>(sim_ns);
}

TimerId SimClock::start_timer(int64_t delay_ns, absl::AnyInvocable<void()> fire) {
  const uint64_t id = next_timer_id_++;
  pending_.emplace(id, std::move(fire));
  host_.post_at(host_.sim().now_ns() + to_sim_duration(delay_ns), [this, id] {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // cancelled
    absl::AnyInvocable<void()> fire = std::move(it->second);
    pending_.erase(it);
    Simulation& sim = host_.sim();
    ++sim.stats().timers_fired;
    sim.trace().record(sim.now_ns(), host_.id(), TraceKind::kTimerFire, id);
    if (sim.trace().text_enabled()) sim.trace().text(sim.now_ns(), host_.id(), "timer fires");
    fire();
  });
  return TimerId{id};
}

bool SimClock::cancel_timer(TimerId id) { return pending_.erase(id.value) > 0; }

}  // namespace walle::sim
