#pragma once

// Request ids of a client's protocol parts. A member answers each request with its id, and the
// part that sent it takes the reply by that id. A StreamClient owns its process's id space:
// every claim, writer and reader it creates gets a range of kRequestIdsPerPart ids of its own,
// never given out again, so a reply reaches exactly the part that asked (and a late reply to a
// part that is gone reaches nobody). A part made on its own draws its first id at random.

#include <cstdint>

#include "core/env/random.h"

namespace walle::protocol {

inline constexpr int kRequestIdRangeBits = 40;
inline constexpr uint64_t kRequestIdsPerPart = uint64_t{1} << kRequestIdRangeBits;

// The range a request id belongs to.
inline uint64_t request_id_range(uint64_t request_id) { return request_id >> kRequestIdRangeBits; }

// `asked` when a StreamClient gave one (non-zero), else one drawn from the process's randomness.
inline uint64_t first_request_id(uint64_t asked, Random& random) {
  return asked != 0 ? asked : random.next_u64() >> 1;
}

}  // namespace walle::protocol
