#include "core/storage/entry.h"

// The state struct is public only with this (a stack state avoids an allocation per entry).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/util/check.h"

namespace walle {

uint64_t chain_checksum(uint64_t previous, std::string_view data) {
  XXH64_state_t state;
  WALLE_CHECK(XXH64_reset(&state, 0) == XXH_OK);
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(previous >> (8 * i));
  XXH64_update(&state, le, sizeof(le));
  XXH64_update(&state, data.data(), data.size());
  return XXH64_digest(&state);
}

}  // namespace walle
