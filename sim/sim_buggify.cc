#include "sim/sim_buggify.h"

namespace walle::sim {

bool SimBuggify::fire(CoveragePath point) {
  if (!active_) return false;
  State& state = state_[static_cast<size_t>(point)];
  if (state == State::kUnknown) state = prng_.chance(enable_probability_) ? State::kOn : State::kOff;
  if (state == State::kOff || !prng_.chance(fire_probability_)) return false;
  ++fired_;
  if (fired_counter_ != nullptr) ++*fired_counter_;
  if (coverage_ != nullptr) coverage_->hit(point);
  return true;
}

}  // namespace walle::sim
