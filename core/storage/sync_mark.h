#pragma once

// The log's sync mark record (RecordType::kSyncMark), written by SegmentLog's flush and read
// by its recovery.

#include <string>

#include "core/storage/segment_log.h"

namespace walle::storage {

// kSyncMark: every byte of the log before `durable_end` was durable when the mark was queued.
struct SyncMark {
  SegmentLog::Position durable_from;
  SegmentLog::Position durable_end;
  std::string owner_state;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(durable_from, durable_end, owner_state);
  }
};

}  // namespace walle::storage
