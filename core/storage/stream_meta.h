#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cereal/types/string.hpp"
#include "cereal/types/vector.hpp"
#include "core/storage/entry.h"
#include "core/storage/tail_damage.h"

namespace walle::storage {

// A stream's metadata on one server: what changes rarely and must be durable at once when it
// does (the stream's topology, the newest writer seen and its lease).
struct StreamMeta {
  uint64_t topology_version = 0;
  std::vector<std::string> members;  // server ids
  uint64_t first_entry_id = 0;       // trim point: entries below it may be deleted
  uint64_t first_entry_checksum = 0;
  WriterId writer;  // the newest writer this server accepted
  std::string writer_address;
  int64_t writer_lease_ns = 0;
  // Recovery found damage that may have taken state this server acknowledged above its
  // commit point (RecoveryReport::tail_damage): until a writer newer than `damaged_under` has
  // committed here, it votes in a claim only as TailDamage allows (docs/protocol.md, "Damaged
  // members"). Persisted, so a second crash cannot forget it; never lowered by a recovery.
  TailDamage tail_damage = TailDamage::kNone;
  WriterId damaged_under;
  // The longest lease any writer this server accepted asked for: after a restart the last
  // renewal is unknown, and the writer that last held a lease here may be an earlier one.
  int64_t longest_lease_ns = 0;

  friend bool operator==(const StreamMeta&, const StreamMeta&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    uint8_t damage = static_cast<uint8_t>(tail_damage);
    ar(topology_version, members, first_entry_id, first_entry_checksum, writer, writer_address,
       writer_lease_ns, damage, damaged_under, longest_lease_ns);
    if constexpr (Archive::is_loading::value) tail_damage = tail_damage_from(damage);
  }
};

}  // namespace walle::storage
