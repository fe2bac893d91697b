#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace walle::link {

// Frames waiting to be written to one connection, bounded in bytes (the transport contract
// lets a message be lost: past the bound the connection is dropped and the protocol's retries
// take over, so a peer that never reads cannot grow the sender's memory). Small frames share
// chunks, so that one writev sends many of them. Pure: no sockets.
class SendQueue {
 public:
  explicit SendQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Queues the frame of `payload`; false, queueing nothing, if the queue would then hold more
  // than max_bytes (a payload over the frame limit is the caller's to refuse first).
  bool push(std::string_view payload);

  // Up to `max_pieces` views of the bytes to write next, in order (for writev). They stay
  // valid until the next consume() (pushes never move queued bytes).
  std::vector<std::string_view> pieces(size_t max_pieces) const;
  // `n` bytes (at most bytes()) were written.
  void consume(size_t n);

  size_t bytes() const { return bytes_; }
  bool empty() const { return bytes_ == 0; }

 private:
  // Frames are appended to the last chunk until it holds this much (a larger frame gets a
  // chunk of its own).
  static constexpr size_t kChunkBytes = 64 << 10;

  size_t max_bytes_;
  std::deque<std::string> chunks_;
  size_t front_offset_ = 0;  // bytes of chunks_.front() already written
  size_t bytes_ = 0;         // unwritten bytes in all chunks
};

}  // namespace walle::link
