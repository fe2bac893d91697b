#include "core/env/random.h"

#include "core/util/check.h"

namespace walle {

uint64_t Random::uniform(uint64_t bound) {
  WALLE_CHECK(bound > 0);
  // Reject the top partial range so that every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    const uint64_t x = next_u64();
    if (x < limit) return x % bound;
  }
}

int64_t Random::uniform_between(int64_t low, int64_t high) {
  WALLE_CHECK(low <= high);
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  if (span == UINT64_MAX) return static_cast<int64_t>(next_u64());
  return static_cast<int64_t>(static_cast<uint64_t>(low) + uniform(span + 1));
}

double Random::unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

bool Random::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return unit() < p;
}

}  // namespace walle
