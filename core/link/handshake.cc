#include "core/link/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <variant>

#include "absl/strings/str_cat.h"
#include "core/link/link_messages.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::link {
namespace {

constexpr char kMacLabel[] = "walle-link-v1 proof";

const char* role_name(uint8_t role) {
  switch (static_cast<Role>(role)) {
    case Role::kServer: return "server";
    case Role::kClient: return "client";
  }
  return "unknown role";
}

void append_le32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

Handshake::Handshake(HandshakeConfig config, const Nonce& nonce)
    : config_(std::move(config)), nonce_(nonce) {
  WALLE_CHECK_MSG(!config_.secret.empty(), "a handshake needs the cluster secret");
  WALLE_CHECK(config_.self != kInvalidNodeId);
  WALLE_CHECK(config_.admit != nullptr);
}

std::string Handshake::hello() const {
  Hello h;
  h.version = kLinkVersion;
  h.cluster_id = config_.cluster_id;
  h.node_id = config_.self;
  h.role = static_cast<uint8_t>(config_.role);
  h.nonce.assign(reinterpret_cast<const char*>(nonce_.data()), nonce_.size());
  return wire::encode(h);
}

std::string Handshake::refusal(const absl::Status& why) {
  Refusal r;
  r.code = static_cast<uint8_t>(why.code());
  r.reason = std::string(why.message());
  return wire::encode(r);
}

namespace {

// A handshake message from the peer, or why there is none: it is malformed, or it is the
// peer's Refusal (its reason, and its code).
absl::StatusOr<LinkMessage> decode_answer(std::string_view payload) {
  absl::StatusOr<LinkMessage> message = wire::decode<LinkMessage>(payload);
  if (!message.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a WALLE handshake frame: ", message.status().message()));
  }
  if (const Refusal* r = std::get_if<Refusal>(&*message)) {
    // The code is the peer's word: a refusal that says OK, or a code absl does not know, is
    // still a refusal (an OK status here would abort the process: found by fuzz/link_fuzz.cc).
    const bool known = r->code > 0 && r->code <= static_cast<uint8_t>(absl::StatusCode::kUnauthenticated);
    return absl::Status(known ? static_cast<absl::StatusCode>(r->code) : absl::StatusCode::kUnknown,
                        absl::StrCat("refused by the peer: ", r->reason));
  }
  return message;
}

}  // namespace

absl::Status Handshake::on_payload(std::string_view payload, std::vector<std::string>& out) {
  absl::Status status;
  switch (state_) {
    case State::kAwaitHello: status = on_hello(payload, out); break;
    case State::kAwaitProof: status = on_proof(payload); break;
    case State::kEstablished:
      status = absl::InternalError("handshake payload after the handshake completed");
      break;
    case State::kFailed: status = absl::FailedPreconditionError("the handshake already failed"); break;
  }
  if (!status.ok()) state_ = State::kFailed;
  return status;
}

absl::Status Handshake::on_hello(std::string_view payload, std::vector<std::string>& out) {
  absl::StatusOr<LinkMessage> message = decode_answer(payload);
  if (!message.ok()) return message.status();
  const Hello* h = std::get_if<Hello>(&*message);
  if (h == nullptr) return absl::InvalidArgumentError("the peer spoke before its hello");
  if (h->version != kLinkVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "incompatible link version ", h->version, " (this process speaks ", kLinkVersion, ")"));
  }
  if (h->cluster_id != config_.cluster_id) {
    return absl::PermissionDeniedError(absl::StrCat("the peer belongs to cluster '", h->cluster_id,
                                                    "', not '", config_.cluster_id, "'"));
  }
  if (h->nonce.size() != kNonceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("hello nonce of ", h->nonce.size(), " bytes (want ", kNonceBytes, ")"));
  }
  std::memcpy(peer_nonce_.data(), h->nonce.data(), kNonceBytes);
  if (peer_nonce_ == nonce_ || h->node_id == config_.self) {
    return absl::PermissionDeniedError("the peer's hello mirrors ours (a reflected handshake)");
  }
  if (h->role != static_cast<uint8_t>(Role::kServer) &&
      h->role != static_cast<uint8_t>(Role::kClient)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown peer role ", h->role));
  }
  const Role role = static_cast<Role>(h->role);
  if (absl::Status admitted = config_.admit(h->node_id, role); !admitted.ok()) {
    return absl::Status(admitted.code(),
                        absl::StrCat(role_name(h->role), " ", h->node_id, " not admitted: ",
                                     admitted.message()));
  }
  peer_id_ = h->node_id;
  peer_role_ = role;
  Proof proof;
  const std::array<uint8_t, 32> m = mac(nonce_, peer_nonce_, config_.self, peer_id_);
  proof.mac.assign(reinterpret_cast<const char*>(m.data()), m.size());
  out.push_back(wire::encode(proof));
  state_ = State::kAwaitProof;
  return absl::OkStatus();
}

absl::Status Handshake::on_proof(std::string_view payload) {
  absl::StatusOr<LinkMessage> message = decode_answer(payload);
  if (!message.ok()) return message.status();
  const Proof* p = std::get_if<Proof>(&*message);
  if (p == nullptr) return absl::InvalidArgumentError("the peer sent a second hello");
  const std::array<uint8_t, 32> expected = mac(peer_nonce_, nonce_, peer_id_, config_.self);
  if (p->mac.size() != expected.size() ||
      CRYPTO_memcmp(p->mac.data(), expected.data(), expected.size()) != 0) {
    return absl::PermissionDeniedError(
        "the peer's proof does not match the cluster secret (a wrong secret, or a replay)");
  }
  state_ = State::kEstablished;
  return absl::OkStatus();
}

std::array<uint8_t, 32> Handshake::mac(const Nonce& prover_nonce, const Nonce& verifier_nonce,
                                       NodeId prover_id, NodeId verifier_id) const {
  std::string message(kMacLabel);
  append_le32(message, static_cast<uint32_t>(config_.cluster_id.size()));
  message += config_.cluster_id;
  message.append(reinterpret_cast<const char*>(prover_nonce.data()), prover_nonce.size());
  message.append(reinterpret_cast<const char*>(verifier_nonce.data()), verifier_nonce.size());
  append_le32(message, prover_id);
  append_le32(message, verifier_id);
  std::array<uint8_t, 32> out{};
  unsigned int length = 0;
  const unsigned char* result =
      HMAC(EVP_sha256(), config_.secret.data(), static_cast<int>(config_.secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
           &length);
  WALLE_CHECK(result != nullptr && length == out.size());
  return out;
}

}  // namespace walle::link
