#include "core/storage/entry.h"

#include <cstring>

// The state struct is public only with this (a stack state avoids an allocation per entry).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/util/check.h"

namespace walle {

namespace {

void put_le64(unsigned char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

}  // namespace

uint64_t chain_checksum(uint64_t previous, std::string_view data) {
  // Most entries are small: one contiguous buffer hashes in one pass, 2x faster than the
  // streaming state for a 16-byte entry (the same XXH64 value either way).
  constexpr size_t kOneShotBytes = 1024;
  if (data.size() <= kOneShotBytes - 8) {
    unsigned char buffer[kOneShotBytes];
    put_le64(buffer, previous);
    if (!data.empty()) std::memcpy(buffer + 8, data.data(), data.size());
    return XXH64(buffer, data.size() + 8, 0);
  }
  XXH64_state_t state;
  WALLE_CHECK(XXH64_reset(&state, 0) == XXH_OK);
  unsigned char le[8];
  put_le64(le, previous);
  XXH64_update(&state, le, sizeof(le));
  XXH64_update(&state, data.data(), data.size());
  return XXH64_digest(&state);
}

}  // namespace walle
