#include "core/link/send_queue.h"

#include <algorithm>

#include "core/link/frame.h"
#include "core/util/check.h"

namespace walle::link {

bool SendQueue::push(std::string_view payload) {
  const size_t frame_bytes = kFrameHeaderBytes + payload.size();
  if (bytes_ + frame_bytes > max_bytes_) return false;
  // A chunk never outgrows the capacity it was made with, so its bytes never move and views
  // handed out by pieces() survive later pushes.
  if (chunks_.empty() || chunks_.back().size() + frame_bytes > chunks_.back().capacity()) {
    chunks_.emplace_back();
    chunks_.back().reserve(std::max(frame_bytes, kChunkBytes));
  }
  append_frame(payload, chunks_.back());
  bytes_ += frame_bytes;
  return true;
}

std::vector<std::string_view> SendQueue::pieces(size_t max_pieces) const {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < chunks_.size() && out.size() < max_pieces; ++i) {
    std::string_view chunk = chunks_[i];
    if (i == 0) chunk.remove_prefix(front_offset_);
    if (!chunk.empty()) out.push_back(chunk);
  }
  return out;
}

void SendQueue::consume(size_t n) {
  WALLE_CHECK(n <= bytes_);
  bytes_ -= n;
  while (n > 0) {
    WALLE_CHECK(!chunks_.empty());
    const size_t left = chunks_.front().size() - front_offset_;
    if (n < left) {
      front_offset_ += n;
      return;
    }
    n -= left;
    chunks_.pop_front();
    front_offset_ = 0;
  }
  if (bytes_ == 0) {
    chunks_.clear();
    front_offset_ = 0;
  }
}

}  // namespace walle::link
