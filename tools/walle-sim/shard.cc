#include "tools/walle-sim/shard.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace walle::sim {

absl::StatusOr<Shard> parse_shard(std::string_view text) {
  const absl::string_view view(text.data(), text.size());
  const std::vector<absl::string_view> parts = absl::StrSplit(view, '/');
  Shard shard;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shard.index) ||
      !absl::SimpleAtoi(parts[1], &shard.count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shard '", view, "' is not of the form I/N (e.g. 0/4: shards count from 0)"));
  }
  if (shard.count == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--shard '", view, "': N must be at least 1"));
  }
  if (shard.index >= shard.count) {
    return absl::InvalidArgumentError(absl::StrCat("--shard '", view, "': I must be in 0..",
                                                   shard.count - 1, " (shards count from 0)"));
  }
  return shard;
}

std::string shard_name(Shard shard) { return absl::StrCat(shard.index, "/", shard.count); }

SeedSequence shard_seeds(uint64_t first, uint64_t last, Shard shard, uint64_t from) {
  SeedSequence seeds;
  seeds.step = shard.count;
  if (last < first || shard.index > last - first) return seeds;
  seeds.first = first + shard.index;
  // Whole steps from the shard's first seed to `from`, rounded up; checked against the end
  // before multiplying, so that ranges near 2^64 cannot overflow.
  const uint64_t span = (last - seeds.first) / seeds.step;  // steps to the last seed
  uint64_t skip = 0;
  if (from > seeds.first) {
    const uint64_t gap = from - seeds.first;
    skip = gap / seeds.step + (gap % seeds.step != 0);
    if (skip > span) return SeedSequence{seeds.first, seeds.step, 0};
  }
  seeds.first += skip * seeds.step;
  seeds.count = span - skip + 1;
  return seeds;
}

}  // namespace walle::sim
