#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace walle::sim {

// A simulated file's contents: the bytes up to the last one written, then zeros up to size().
// Preallocating a segment (zero-filling 64 KiB, or 64 MiB in production settings) is then a
// size change, not a memset and a copy: it was a twentieth of the simulator's time.
class FileBytes {
 public:
  uint64_t size() const { return size_; }

  // Cuts the file to `size` bytes or extends it with zeros.
  void resize(uint64_t size) {
    if (size < stored_.size()) stored_.resize(size);
    size_ = size;
  }

  // Puts `bytes` at `offset`, extending the file if they reach past its end.
  void write(uint64_t offset, std::string_view bytes) {
    if (bytes.empty()) return;
    // A preallocated file fills up to its size: room for all of it at once, not a doubling
    // string that copies itself a dozen times on the way (others still grow geometrically).
    const uint64_t end = offset + bytes.size();
    if (end > stored_.capacity()) stored_.reserve(std::max({end, size_, 2 * stored_.capacity()}));
    if (offset > stored_.size()) stored_.resize(offset, '\0');
    if (offset == stored_.size()) {
      stored_.append(bytes);
    } else {
      const uint64_t overlap = std::min<uint64_t>(bytes.size(), stored_.size() - offset);
      stored_.replace(offset, overlap, bytes);
    }
    size_ = std::max(size_, end);
  }

  // Zeros [offset, offset + length), extending the file if that reaches past its end.
  void zero(uint64_t offset, uint64_t length) {
    const uint64_t end = offset + length;
    if (end >= stored_.size()) {
      if (offset < stored_.size()) stored_.resize(offset);  // the zero tail begins earlier
    } else {
      std::fill(stored_.begin() + static_cast<std::ptrdiff_t>(offset),
                stored_.begin() + static_cast<std::ptrdiff_t>(end), '\0');
    }
    size_ = std::max(size_, end);
  }

  // The bytes of [offset, offset + length) that lie within the file.
  std::string read(uint64_t offset, uint64_t length) const {
    if (offset >= size_) return std::string();
    const uint64_t end = offset + std::min(length, size_ - offset);
    std::string out;
    out.reserve(end - offset);
    if (offset < stored_.size()) {
      out.append(stored_, offset, std::min<uint64_t>(end, stored_.size()) - offset);
    }
    out.append(end - offset - out.size(), '\0');
    return out;
  }

  // Flips the bits of `mask` in the byte at `offset` (< size()).
  void flip(uint64_t offset, char mask) {
    if (offset >= stored_.size()) stored_.resize(offset + 1, '\0');
    stored_[offset] ^= mask;
  }

  // One past the last non-zero byte (0 if every byte is zero).
  uint64_t written_end() const {
    const size_t last = stored_.find_last_not_of('\0');
    return last == std::string::npos ? 0 : last + 1;
  }

  std::string to_string() const { return read(0, size_); }

 private:
  std::string stored_;  // never longer than size_
  uint64_t size_ = 0;
};

}  // namespace walle::sim
