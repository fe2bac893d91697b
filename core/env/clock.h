#pragma once

#include <cstdint>

#include "absl/functional/any_invocable.h"

namespace walle {

// A handle for a started timer; cancel_timer() accepts it. Zero is never a live timer.
struct TimerId {
  uint64_t value = 0;
  friend bool operator==(TimerId, TimerId) = default;
};

// Monotonic time and timers of one node.
//
// Time is local to the node: in the simulator every node's clock runs at its own rate (drift)
// from its own origin, so protocol code may only compare times taken from its own clock, and
// must express cross-node bounds (leases) with an explicit drift allowance.
//
// Timer callbacks run on the node's single thread, after the call that started them returned,
// never re-entrantly.
class Clock {
 public:
  virtual ~Clock() = default;

  // Nanoseconds since an arbitrary, per-node origin; never decreases.
  virtual int64_t now_ns() const = 0;

  // Calls `fire` once, no earlier than `delay_ns` (local time) from now. delay_ns < 0 is
  // treated as 0.
  virtual TimerId start_timer(int64_t delay_ns, absl::AnyInvocable<void()> fire) = 0;

  // Returns true if the timer was pending and will now never fire; false if it already fired,
  // was already cancelled, or never existed.
  virtual bool cancel_timer(TimerId id) = 0;
};

inline constexpr int64_t kNanosPerMicro = 1000;
inline constexpr int64_t kNanosPerMilli = 1000 * 1000;
inline constexpr int64_t kNanosPerSecond = 1000 * 1000 * 1000;

}  // namespace walle
