#pragma once

// Names and checksum seeds of a stream store's files (docs/storage.md).

#include <xxhash.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace walle::storage {

// OK if `name` can name a stream store: 1..64 of [a-z0-9_-].
absl::Status validate_store_name(const std::string& name);

inline uint64_t store_seed(const std::string& name, uint64_t salt) {
  return XXH3_64bits_withSeed(name.data(), name.size(), salt);
}
inline uint64_t live_seed(const std::string& name) { return store_seed(name, 0x6c697665); }
inline uint64_t fill_seed(const std::string& name) { return store_seed(name, 0x66696c6c); }
inline uint64_t meta_seed(const std::string& name) { return store_seed(name, 0x6d657461); }

inline std::string live_prefix(const std::string& name) { return name + ".live"; }
inline std::string fill_prefix(const std::string& name) { return name + ".fill"; }
inline std::string meta_file(const std::string& name) { return name + ".meta"; }
inline std::string meta_temp_file(const std::string& name) { return name + ".meta.tmp"; }
// The second copy of the metadata, written after the first: a latent error or rot in one copy
// leaves the other (every acknowledged state is in both).
inline std::string meta_copy_file(const std::string& name) { return name + ".meta2"; }

}  // namespace walle::storage
