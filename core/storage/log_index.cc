#include "core/storage/log_index.h"

#include <vector>

#include "core/util/check.h"

namespace walle::storage {

void LogIndex::add(uint64_t id, SegmentLog::Position position, uint64_t interval_bytes,
                   bool force_point) {
  ids_.add(id);
  last_id_ = id;
  Segment& segment = segments_[position.seq];
  segment.ids.add(id);
  if (segment.points.empty() || force_point ||
      position.offset >= segment.last_point_offset + interval_bytes) {
    segment.points[id] = position.offset;
    segment.last_point_offset = position.offset;
  }
}

std::optional<SegmentLog::Position> LogIndex::locate(uint64_t id) const {
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    const Segment& segment = it->second;
    if (!segment.ids.contains(id)) continue;
    auto point = segment.points.upper_bound(id);
    // add() starts every segment with a point, and erase_above/erase_below keep the one at
    // or below every id that remains: an id without one is a bug here.
    WALLE_CHECK_MSG(point != segment.points.begin(), "an indexed id has no point at or below it");
    return SegmentLog::Position{it->first, std::prev(point)->second};
  }
  return std::nullopt;
}

std::optional<uint64_t> LogIndex::max_id_in(uint64_t seq) const {
  auto it = segments_.find(seq);
  if (it == segments_.end() || it->second.ids.empty()) return std::nullopt;
  return std::prev(it->second.ids.ranges().end())->second - 1;
}

void LogIndex::remove(uint64_t id) {
  ids_.remove(id);
  for (auto& [seq, segment] : segments_) segment.ids.remove(id);
}

void LogIndex::erase_above(uint64_t id) {
  ids_.remove(id + 1, UINT64_MAX);
  for (auto& [seq, segment] : segments_) {
    segment.ids.remove(id + 1, UINT64_MAX);
    segment.points.erase(segment.points.upper_bound(id), segment.points.end());
  }
  drop_empty_segments();
}

void LogIndex::erase_below(uint64_t id) {
  ids_.remove(0, id);
  for (auto& [seq, segment] : segments_) {
    segment.ids.remove(0, id);
    // Keep the point at or below `id`: entries from there on are found by scanning forward.
    auto keep = segment.points.upper_bound(id);
    if (keep != segment.points.begin()) --keep;
    segment.points.erase(segment.points.begin(), keep);
  }
  drop_empty_segments();
}

void LogIndex::forget_segments_before(uint64_t seq) {
  segments_.erase(segments_.begin(), segments_.lower_bound(seq));
}

void LogIndex::drop_empty_segments() {
  // Erasing invalidates btree iterators: collect first.
  std::vector<uint64_t> empty;
  for (const auto& [seq, segment] : segments_) {
    if (segment.ids.empty()) empty.push_back(seq);
  }
  for (uint64_t seq : empty) segments_.erase(seq);
}

}  // namespace walle::storage
