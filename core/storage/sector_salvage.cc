#include "core/storage/sector_salvage.h"

#include <algorithm>

namespace walle::storage {

void SectorSalvage::run(File& file, uint64_t offset, uint64_t length, Done done) {
  std::shared_ptr<SectorSalvage> salvage(
      new SectorSalvage(file, offset, offset + length, std::move(done)));
  salvage->next(0);
}

void SectorSalvage::next(int attempt) {
  if (offset_ >= end_) return done_(std::move(bytes_), unreadable_);
  // Sector-aligned pieces, so one bad sector costs only itself.
  const uint64_t length = std::min(kSectorBytes - offset_ % kSectorBytes, end_ - offset_);
  file_.read_at(offset_, length,
                [self = shared_from_this(), length, attempt](absl::StatusOr<std::string> bytes) {
                  if (!bytes.ok() && attempt < kReadAttempts) return self->next(attempt + 1);
                  if (bytes.ok()) {
                    self->bytes_.append(*bytes);
                  } else {
                    self->unreadable_ += length;
                    self->bytes_.append(length, static_cast<char>(0xa5));
                  }
                  self->offset_ += length;
                  self->next(0);
                });
}

}  // namespace walle::storage
