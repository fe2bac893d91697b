#pragma once

#include <cstdint>
#include <optional>

#include "absl/container/btree_map.h"
#include "core/storage/range_set.h"
#include "core/storage/segment_log.h"

namespace walle::storage {

// Where the entries of one log are: the ids it holds, and per segment a sparse index of
// positions (one point per interval of bytes, and one at each segment's first entry). Holds
// positions, never data. Ids grow within a segment; across segments they grow in the live log
// but not necessarily in the backfill log, so lookups go segment by segment, newest first.
class LogIndex {
 public:
  // Records entry `id` at `position`. `force_point`: start a scan point here (e.g. the first
  // entry after damaged bytes, which a scan from an earlier point could not cross).
  void add(uint64_t id, SegmentLog::Position position, uint64_t interval_bytes,
           bool force_point = false);

  // Where to start scanning for `id`: the nearest point at or below it in the newest segment
  // that holds it; nullopt if no segment does.
  std::optional<SegmentLog::Position> locate(uint64_t id) const;

  bool contains(uint64_t id) const { return ids_.contains(id); }
  const RangeSet& ids() const { return ids_; }
  bool empty() const { return ids_.empty(); }
  uint64_t last_id() const { return last_id_; }
  // The largest id in segment `seq`, if it holds any.
  std::optional<uint64_t> max_id_in(uint64_t seq) const;

  void remove(uint64_t id);       // its stored copy is lost
  void erase_above(uint64_t id);  // a truncation
  void erase_below(uint64_t id);  // a trim
  void forget_segments_before(uint64_t seq);

 private:
  struct Segment {
    RangeSet ids;
    absl::btree_map<uint64_t, uint64_t> points;  // id -> offset
    uint64_t last_point_offset = 0;
  };
  void drop_empty_segments();

  RangeSet ids_;
  absl::btree_map<uint64_t, Segment> segments_;
  uint64_t last_id_ = 0;
};

}  // namespace walle::storage
