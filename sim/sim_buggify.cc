#include "sim/sim_buggify.h"

namespace walle::sim {

bool SimBuggify::fire(const char* file, int line) {
  auto [it, inserted] = enabled_.try_emplace(std::pair{std::string_view(file), line}, false);
  if (inserted) it->second = prng_.chance(enable_probability_);
  if (!it->second || !prng_.chance(fire_probability_)) return false;
  ++fired_;
  if (fired_counter_ != nullptr) ++*fired_counter_;
  return true;
}

}  // namespace walle::sim
