#pragma once

// The handshake's messages (handshake.h): the only payloads a connection carries before both
// sides proved knowledge of the cluster secret.

#include <cstdint>
#include <string>
#include <variant>

#include "cereal/types/string.hpp"

namespace walle::link {

struct Hello {
  static constexpr uint16_t kWireType = 1;
  uint16_t version = 0;
  uint64_t features = 0;  // none yet; room for TLS and compression to be negotiated
  std::string cluster_id;
  uint32_t node_id = 0;
  uint8_t role = 0;
  std::string nonce;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(version, features, cluster_id, node_id, role, nonce);
  }
};

struct Proof {
  static constexpr uint16_t kWireType = 2;
  std::string mac;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(mac);
  }
};

struct Refusal {
  static constexpr uint16_t kWireType = 3;
  uint8_t code = 0;  // absl::StatusCode
  std::string reason;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(code, reason);
  }
};

using LinkMessage = std::variant<Hello, Proof, Refusal>;

}  // namespace walle::link
