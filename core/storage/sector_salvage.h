#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "core/env/file_system.h"

namespace walle::storage {

// Reads [offset, offset + length) of `file` one sector at a time, retrying each a few times;
// a sector that stays unreadable (a latent error) becomes bytes that fail every record check,
// so callers see a hole where the sector was instead of losing the whole range.
class SectorSalvage : public std::enable_shared_from_this<SectorSalvage> {
 public:
  using Done = absl::AnyInvocable<void(std::string bytes, uint64_t unreadable_bytes)>;
  static constexpr uint64_t kSectorBytes = 512;
  static constexpr int kReadAttempts = 4;

  static void run(File& file, uint64_t offset, uint64_t length, Done done);

 private:
  SectorSalvage(File& file, uint64_t offset, uint64_t end, Done done)
      : file_(file), offset_(offset), end_(end), done_(std::move(done)) {}

  void next(int attempt);

  File& file_;
  uint64_t offset_;
  uint64_t end_;
  Done done_;
  std::string bytes_;
  uint64_t unreadable_ = 0;
};

}  // namespace walle::storage
