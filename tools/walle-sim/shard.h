#pragma once

// Sharding a seed range across machines: shard I of N runs the seeds s of A..B with
// (s - A) % N == I, so N shards together run every seed of the range exactly once, and each
// shard's seeds are spread over the whole range (a slow region does not land on one machine).

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace walle::sim {

struct Shard {
  // Counted from 0, like Kubernetes' JOB_COMPLETION_INDEX and `seq 0 $((N-1))`.
  uint64_t index = 0;
  uint64_t count = 1;

  bool operator==(const Shard&) const = default;
};

// Parses "I/N" with 0 <= I < N.
absl::StatusOr<Shard> parse_shard(std::string_view text);
// "I/N".
std::string shard_name(Shard shard);

// An increasing run of seeds: first, first + step, ..., `count` of them.
struct SeedSequence {
  uint64_t first = 0;
  uint64_t step = 1;
  uint64_t count = 0;

  uint64_t at(uint64_t i) const { return first + i * step; }
  bool contains(uint64_t seed) const {
    return count > 0 && seed >= first && (seed - first) % step == 0 &&
           (seed - first) / step < count;
  }
  // Position of a seed the sequence contains.
  uint64_t index_of(uint64_t seed) const { return (seed - first) / step; }
};

// The seeds of `shard` in [first, last], from the first one >= `from` on (where a resumed
// sweep starts). Empty when the shard has none there (more shards than seeds).
SeedSequence shard_seeds(uint64_t first, uint64_t last, Shard shard, uint64_t from = 0);

}  // namespace walle::sim
