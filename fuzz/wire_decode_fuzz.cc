// libFuzzer target: arbitrary bytes into the wire decoder. It must never crash, never
// allocate more than the input can describe, and anything it accepts must re-encode to the
// same bytes (the encoding is canonical).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/util/check.h"
#include "core/wire/codec.h"
#include "sim/workloads/counter_messages.h"

namespace {

// A message with every field shape the codec supports, so the fuzzer reaches them all.
struct Nested {
  uint32_t id = 0;
  std::string name;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, name);
  }
};

struct Everything {
  static constexpr uint16_t kWireType = 77;
  bool flag = false;
  int64_t number = 0;
  std::string bytes;
  std::vector<uint64_t> ids;
  std::vector<Nested> nested;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(flag, number, bytes, ids, nested);
  }
};

using FuzzMessage =
    std::variant<walle::sim::counter::CounterUpdate, walle::sim::counter::CounterAck, Everything>;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<FuzzMessage> decoded = walle::wire::decode<FuzzMessage>(input);
  if (decoded.ok()) {
    const std::string again =
        std::visit([](const auto& m) { return walle::wire::encode(m); }, *decoded);
    WALLE_CHECK_MSG(again == input, "accepted bytes that do not re-encode identically");
  }
  return 0;
}
