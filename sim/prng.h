#pragma once

#include <cstdint>

#include "core/env/random.h"

namespace walle::sim {

// The simulator's PRNG: xoshiro256** seeded through splitmix64. One run's seed determines
// every random choice; fork() derives independent streams (one per node, one for the
// network, ...) so that adding a draw in one place does not shift every other choice.
class Prng final : public Random {
 public:
  explicit Prng(uint64_t seed);

  uint64_t next_u64() override;

  // A new generator whose sequence depends only on this generator's seed and `stream`, not on
  // how many values were drawn from this one.
  Prng fork(uint64_t stream) const;

 private:
  uint64_t seed_;
  uint64_t state_[4];
};

}  // namespace walle::sim
