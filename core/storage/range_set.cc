#include "core/storage/range_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace walle {

void RangeSet::add(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  // Merge with every range that overlaps or touches [begin, end).
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= begin) it = prev;
  }
  while (it != ranges_.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  ranges_.emplace(begin, end);
}

void RangeSet::remove(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  auto it = ranges_.upper_bound(begin);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > begin) it = prev;
  }
  // Inserting invalidates btree iterators: collect the remainders, insert after erasing.
  std::optional<std::pair<uint64_t, uint64_t>> left, right;
  while (it != ranges_.end() && it->first < end) {
    if (it->first < begin) left = std::pair{it->first, begin};
    if (it->second > end) right = std::pair{end, it->second};
    it = ranges_.erase(it);
  }
  if (left) ranges_.insert(*left);
  if (right) ranges_.insert(*right);
}

bool RangeSet::contains(uint64_t id) const {
  auto it = ranges_.upper_bound(id);
  if (it == ranges_.begin()) return false;
  return std::prev(it)->second > id;
}

bool RangeSet::contains_all(uint64_t begin, uint64_t end) const {
  if (begin >= end) return true;
  auto it = ranges_.upper_bound(begin);
  if (it == ranges_.begin()) return false;
  --it;
  return it->first <= begin && it->second >= end;
}

std::optional<std::pair<uint64_t, uint64_t>> RangeSet::next_range(uint64_t id) const {
  auto it = ranges_.upper_bound(id);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > id) return *prev;
  }
  if (it == ranges_.end()) return std::nullopt;
  return *it;
}

uint64_t RangeSet::count() const {
  uint64_t n = 0;
  for (const auto& [b, e] : ranges_) n += e - b;
  return n;
}

std::string RangeSet::to_string() const {
  std::string out = "{";
  for (const auto& [b, e] : ranges_) {
    absl::StrAppend(&out, out.size() > 1 ? " " : "", "[", b, ",", e, ")");
  }
  return out + "}";
}

bool RangeSet::intersects(const RangeSet& other) const {
  // Walk the smaller set; each of its ranges meets the other's range that starts before its
  // end, if that one ends after its begin.
  const RangeSet& small = range_count() <= other.range_count() ? *this : other;
  const RangeSet& large = &small == this ? other : *this;
  for (const auto& [begin, end] : small.ranges_) {
    auto it = large.ranges_.lower_bound(end);
    if (it == large.ranges_.begin()) continue;
    if (std::prev(it)->second > begin) return true;
  }
  return false;
}

}  // namespace walle
