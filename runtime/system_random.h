#pragma once

#include <openssl/rand.h>

#include <cstdint>
#include <random>

#include "core/env/random.h"
#include "core/util/check.h"

namespace walle::runtime {

// The production Random: a 64-bit Mersenne Twister seeded from the system's secure source.
// For jitter and ids, not for secrets (handshake nonces come from RAND_bytes directly).
class SystemRandom final : public Random {
 public:
  SystemRandom() {
    uint64_t seed = 0;
    WALLE_CHECK_MSG(RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) == 1,
                    "the system's random source failed");
    engine_.seed(seed);
  }
  uint64_t next_u64() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace walle::runtime
