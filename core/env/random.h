#pragma once

#include <cstdint>

namespace walle {

// The only source of randomness logic may use. In the simulator it is derived from the run's
// seed, so that one seed replays the same run.
class Random {
 public:
  virtual ~Random() = default;

  virtual uint64_t next_u64() = 0;

  // Uniform in [0, bound); bound must be > 0. Uses rejection so that every value is equally
  // likely.
  uint64_t uniform(uint64_t bound);

  // Uniform in [low, high] (inclusive); requires low <= high.
  int64_t uniform_between(int64_t low, int64_t high);

  // Uniform in [0, 1).
  double unit();

  // True with probability p (p <= 0: never, p >= 1: always).
  bool chance(double p);
};

}  // namespace walle
