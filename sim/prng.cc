#include "sim/prng.h"

namespace walle::sim {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Prng::Prng(uint64_t seed) : seed_(seed) {
  uint64_t x = seed;
  for (uint64_t& s : state_) s = splitmix64(x);
}

uint64_t Prng::next_u64() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

Prng Prng::fork(uint64_t stream) const {
  uint64_t x = seed_ ^ (stream * 0xd1b54a32d192ed03ULL);
  return Prng(splitmix64(x));
}

}  // namespace walle::sim
