#pragma once

// TailDamage: whether a member's recovery may have lost state it acknowledged (entries,
// re-stamps) above its commit point, and whether it could tell a torn write from rot
// (docs/storage.md, "Torn or rotten"; docs/protocol.md, "Damaged members").

#include <cstdint>
#include <string_view>

namespace walle::storage {

enum class TailDamage : uint8_t {
  kNone = 0,
  // Damage after the last point a sync mark proves durable: a write the crash tore (never
  // acknowledged) or rot of acknowledged records; recovery cannot tell which.
  kUncertain = 1,
  // Damage in bytes proven durable, or a media error: rot, never a crash.
  kRot = 2,
};

// Decoders accept any byte; anything past kRot is treated as kRot.
inline TailDamage tail_damage_from(uint8_t byte) {
  return byte >= static_cast<uint8_t>(TailDamage::kRot) ? TailDamage::kRot
                                                        : static_cast<TailDamage>(byte);
}

inline const char* tail_damage_name(TailDamage damage) {
  switch (damage) {
    case TailDamage::kNone:
      return "none";
    case TailDamage::kUncertain:
      return "uncertain (torn or rot)";
    case TailDamage::kRot:
      return "rot";
  }
  return "rot";
}

}  // namespace walle::storage
