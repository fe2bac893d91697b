#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/btree_map.h"

namespace walle {

// A set of uint64 ids kept as disjoint, non-adjacent half-open ranges [begin, end). Small
// when the ids are mostly contiguous, which entry ids are.
class RangeSet {
 public:
  void add(uint64_t begin, uint64_t end);     // inserts [begin, end)
  void remove(uint64_t begin, uint64_t end);  // erases [begin, end)
  void add(uint64_t id) { add(id, id + 1); }
  void remove(uint64_t id) { remove(id, id + 1); }
  void clear() { ranges_.clear(); }

  bool contains(uint64_t id) const;
  // True if every id of [begin, end) is in the set.
  bool contains_all(uint64_t begin, uint64_t end) const;
  bool empty() const { return ranges_.empty(); }
  // The first range that ends after `id` (containing it or starting later), if any.
  std::optional<std::pair<uint64_t, uint64_t>> next_range(uint64_t id) const;
  // Whether some id is in both sets.
  bool intersects(const RangeSet& other) const;
  uint64_t count() const;  // number of ids
  size_t range_count() const { return ranges_.size(); }
  const absl::btree_map<uint64_t, uint64_t>& ranges() const { return ranges_; }
  std::string to_string() const;

  friend bool operator==(const RangeSet&, const RangeSet&) = default;

 private:
  absl::btree_map<uint64_t, uint64_t> ranges_;  // begin -> end
};

}  // namespace walle
