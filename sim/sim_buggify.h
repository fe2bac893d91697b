#pragma once

#include <array>
#include <cstdint>

#include "core/env/buggify.h"
#include "sim/prng.h"

namespace walle::sim {

// The simulator's Buggify. Per run, each fault point is switched on or off the first time it
// is reached (with probability `enable_probability`), and an enabled point then fires on
// each visit with probability `fire_probability`: a run explores some unusual paths hard
// instead of all of them faintly. Decisions come from the run's PRNG in visit order, so a
// seed replays them. Firings count as coverage (`coverage`, optional).
class SimBuggify final : public Buggify {
 public:
  explicit SimBuggify(Prng prng, Coverage* coverage = nullptr, uint64_t* fired_counter = nullptr,
                      double enable_probability = 0.25, double fire_probability = 0.25)
      : prng_(prng),
        coverage_(coverage),
        fired_counter_(fired_counter),
        enable_probability_(enable_probability),
        fire_probability_(fire_probability) {}

  bool fire(CoveragePath point) override;

  uint64_t fired() const { return fired_; }
  // Off: no point fires (the heal window, where liveness is judged, is free of them).
  void set_active(bool active) { active_ = active; }

 private:
  enum class State : uint8_t { kUnknown, kOff, kOn };

  Prng prng_;
  Coverage* coverage_;
  uint64_t* fired_counter_;
  double enable_probability_;
  double fire_probability_;
  std::array<State, kCoveragePaths> state_{};
  uint64_t fired_ = 0;
  bool active_ = true;
};

}  // namespace walle::sim
