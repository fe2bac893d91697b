#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "core/env/buggify.h"
#include "sim/prng.h"

namespace walle::sim {

// The simulator's Buggify. Per run, each fault point is switched on or off the first time it
// is reached (with probability `enable_probability`), and an enabled point then fires on
// each visit with probability `fire_probability`: a run explores some unusual paths hard
// instead of all of them faintly. Decisions come from the run's PRNG in visit order, so a
// seed replays them; the map is only looked up, never iterated.
class SimBuggify final : public Buggify {
 public:
  // `fired_counter` (optional) is incremented on every firing, e.g. a SimStats field.
  explicit SimBuggify(Prng prng, uint64_t* fired_counter = nullptr,
                      double enable_probability = 0.25, double fire_probability = 0.25)
      : prng_(prng),
        fired_counter_(fired_counter),
        enable_probability_(enable_probability),
        fire_probability_(fire_probability) {}

  bool fire(const char* file, int line) override;

  uint64_t fired() const { return fired_; }

 private:
  Prng prng_;
  uint64_t* fired_counter_;
  double enable_probability_;
  double fire_probability_;
  absl::flat_hash_map<std::pair<std::string_view, int>, bool> enabled_;
  uint64_t fired_ = 0;
};

}  // namespace walle::sim
