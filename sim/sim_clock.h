#pragma once

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "core/env/clock.h"

namespace walle::sim {

class NodeHost;

// A node's clock: local time = origin + simulated time * (1 + drift_ppm / 1e6). Timers are
// converted to simulated time so that they fire no earlier than their local deadline.
class SimClock final : public Clock {
 public:
  SimClock(NodeHost& host, int64_t origin_ns, int64_t drift_ppm)
      : host_(host), origin_ns_(origin_ns), drift_ppm_(drift_ppm) {}

  int64_t now_ns() const override;
  TimerId start_timer(int64_t delay_ns, absl::AnyInvocable<void()> fire) override;
  bool cancel_timer(TimerId id) override;

  int64_t drift_ppm() const { return drift_ppm_; }
  size_t pending_timers() const { return pending_.size(); }

  // Simulated nanoseconds that pass while this clock advances `local_ns`.
  int64_t to_sim_duration(int64_t local_ns) const;

  // A crash: every pending timer is forgotten.
  void clear_timers() { pending_.clear(); }

 private:
  NodeHost& host_;
  int64_t origin_ns_;
  int64_t drift_ppm_;
  uint64_t next_timer_id_ = 1;
  // Looked up by id only, never iterated: hash order cannot leak into behaviour.
  absl::flat_hash_map<uint64_t, absl::AnyInvocable<void()>> pending_;
};

}  // namespace walle::sim
