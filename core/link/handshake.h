#pragma once

// The handshake that opens every connection, before any protocol message (docs/protocol.md,
// "Transport"). Pure code over payloads, so net/ and the simulator run the same one.
//
// Each side sends Hello (link version, cluster id, its node id and role, a fresh random
// nonce), then, on the peer's Hello, Proof: HMAC-SHA256 of the cluster secret over a label,
// the cluster id, both nonces and both node ids, in the order of the side that proves. The
// secret never crosses the wire; a recorded Proof fails against a new nonce, and a reflected
// one fails because the order of nonces and ids differs. Anything wrong ends the handshake
// with a Refusal naming the reason, sent before the connection closes, so that both sides
// log it. Once both Proofs check out, the peer's node id is the connection's: a server
// trusts no sender id that a message claims.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/env/node_id.h"

namespace walle::link {

inline constexpr uint16_t kLinkVersion = 1;
inline constexpr size_t kNonceBytes = 32;
using Nonce = std::array<uint8_t, kNonceBytes>;

// Servers have the ids of the cluster file; clients pick random ids at or above this, so
// the two never collide (a server refuses a client id already connected).
inline constexpr NodeId kFirstClientId = 1u << 24;

enum class Role : uint8_t { kServer = 1, kClient = 2 };

struct HandshakeConfig {
  std::string cluster_id;
  NodeId self = kInvalidNodeId;
  Role role = Role::kServer;
  std::string secret;  // the cluster secret's bytes; never empty
  // Whether a peer that says it is `id` with `role` may connect (for a server: a server of
  // the cluster file, or a client id in the client range that is not connected already).
  // OK, or the reason for the refusal.
  std::function<absl::Status(NodeId id, Role role)> admit;
};

class Handshake {
 public:
  // `nonce`: fresh random bytes, one per connection (RAND_bytes in production, the node's
  // Random in the simulator).
  Handshake(HandshakeConfig config, const Nonce& nonce);

  // The first payload to send.
  std::string hello() const;

  // One payload received before the handshake completed. Appends what to send in answer to
  // `out`. An error ends the handshake: send refusal(error), then close the connection.
  absl::Status on_payload(std::string_view payload, std::vector<std::string>& out);

  // A Refusal payload carrying `why`, to send before closing.
  static std::string refusal(const absl::Status& why);

  bool established() const { return state_ == State::kEstablished; }
  NodeId peer() const { return peer_id_; }
  Role peer_role() const { return peer_role_; }

 private:
  enum class State { kAwaitHello, kAwaitProof, kEstablished, kFailed };

  absl::Status on_hello(std::string_view payload, std::vector<std::string>& out);
  absl::Status on_proof(std::string_view payload);
  // HMAC by the side with `prover_nonce` and `prover_id`, for the side with the others.
  std::array<uint8_t, 32> mac(const Nonce& prover_nonce, const Nonce& verifier_nonce,
                              NodeId prover_id, NodeId verifier_id) const;

  HandshakeConfig config_;
  Nonce nonce_;
  Nonce peer_nonce_{};
  NodeId peer_id_ = kInvalidNodeId;
  Role peer_role_ = Role::kServer;
  State state_ = State::kAwaitHello;
};

}  // namespace walle::link
