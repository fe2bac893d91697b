#pragma once

#include <cstdint>
#include <variant>

namespace walle::sim::counter {

// "My durable counter is now `value`": sent to every peer after each synced increment.
struct CounterUpdate {
  static constexpr uint16_t kWireType = 1;
  uint64_t value = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
  friend bool operator==(const CounterUpdate&, const CounterUpdate&) = default;
};

// "I have seen your counter at `value`."
struct CounterAck {
  static constexpr uint16_t kWireType = 2;
  uint64_t value = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
  friend bool operator==(const CounterAck&, const CounterAck&) = default;
};

using CounterMessage = std::variant<CounterUpdate, CounterAck>;

}  // namespace walle::sim::counter
