#include "core/link/handshake.h"

#include <string>
#include <vector>

#include "core/link/link_messages.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"

namespace walle::link {
namespace {

Nonce nonce_of(uint8_t fill) {
  Nonce n;
  n.fill(fill);
  return n;
}

HandshakeConfig config(NodeId self, Role role = Role::kServer, std::string secret = "s3cret",
                       std::string cluster = "prod") {
  HandshakeConfig c;
  c.cluster_id = std::move(cluster);
  c.self = self;
  c.role = role;
  c.secret = std::move(secret);
  c.admit = [](NodeId, Role) { return absl::OkStatus(); };
  return c;
}

// Runs both sides against each other; returns each side's final status.
struct Outcome {
  absl::Status a;
  absl::Status b;
};
Outcome run(Handshake& a, Handshake& b) {
  std::vector<std::string> to_b = {a.hello()};
  std::vector<std::string> to_a = {b.hello()};
  Outcome out;
  for (int round = 0; round < 4 && (!to_a.empty() || !to_b.empty()); ++round) {
    std::vector<std::string> next_to_a;
    std::vector<std::string> next_to_b;
    for (const std::string& p : to_b) {
      if (out.b.ok() && !b.established()) out.b = b.on_payload(p, next_to_a);
    }
    for (const std::string& p : to_a) {
      if (out.a.ok() && !a.established()) out.a = a.on_payload(p, next_to_b);
    }
    to_a = std::move(next_to_a);
    to_b = std::move(next_to_b);
  }
  return out;
}

TEST(Handshake, TwoServersOfOneClusterLearnEachOthersIds) {
  Handshake a(config(1), nonce_of(0xaa));
  Handshake b(config(2), nonce_of(0xbb));
  const Outcome o = run(a, b);
  ASSERT_TRUE(o.a.ok()) << o.a;
  ASSERT_TRUE(o.b.ok()) << o.b;
  EXPECT_TRUE(a.established());
  EXPECT_TRUE(b.established());
  EXPECT_EQ(a.peer(), 2u);
  EXPECT_EQ(b.peer(), 1u);
}

TEST(Handshake, AClientIsSeenAsAClient) {
  Handshake server(config(1), nonce_of(1));
  Handshake client(config(kFirstClientId + 7, Role::kClient), nonce_of(2));
  const Outcome o = run(server, client);
  ASSERT_TRUE(o.a.ok() && o.b.ok()) << o.a << " / " << o.b;
  EXPECT_EQ(server.peer(), kFirstClientId + 7);
  EXPECT_EQ(server.peer_role(), Role::kClient);
}

TEST(Handshake, AWrongSecretFailsOnBothSidesAndTheSecretNeverCrossesTheWire) {
  Handshake a(config(1, Role::kServer, "right"), nonce_of(3));
  Handshake b(config(2, Role::kServer, "wrong"), nonce_of(4));
  EXPECT_EQ(a.hello().find("right"), std::string::npos);
  const Outcome o = run(a, b);
  EXPECT_EQ(o.a.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(o.b.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(o.a.message().find("cluster secret"), std::string::npos);
  EXPECT_FALSE(a.established());
  EXPECT_FALSE(b.established());
}

TEST(Handshake, APeerOfAnotherClusterIsRefusedWithTheReason) {
  Handshake a(config(1, Role::kServer, "s", "prod"), nonce_of(5));
  Handshake b(config(2, Role::kServer, "s", "staging"), nonce_of(6));
  const Outcome o = run(a, b);
  EXPECT_EQ(o.a.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(o.a.message().find("cluster 'staging', not 'prod'"), std::string::npos);
  // The refusal, sent before closing, tells the other side why.
  std::vector<std::string> out;
  Handshake c(config(3, Role::kServer, "s", "staging"), nonce_of(7));
  const absl::Status told = c.on_payload(Handshake::refusal(o.a), out);
  EXPECT_EQ(told.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(told.message().find("refused by the peer"), std::string::npos);
}

TEST(Handshake, AnIncompatibleVersionIsRefused) {
  Hello h;
  h.version = kLinkVersion + 1;
  h.cluster_id = "prod";
  h.node_id = 2;
  h.role = static_cast<uint8_t>(Role::kServer);
  h.nonce.assign(kNonceBytes, 'n');
  Handshake a(config(1), nonce_of(8));
  std::vector<std::string> out;
  const absl::Status s = a.on_payload(wire::encode(h), out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("incompatible link version 2"), std::string::npos);
  EXPECT_TRUE(out.empty());
}

TEST(Handshake, AReplayedHandshakeFailsAgainstAFreshNonce) {
  // Record what server 2 sent to server 1 in one session...
  Handshake a1(config(1), nonce_of(9));
  Handshake b(config(2), nonce_of(10));
  std::vector<std::string> from_b = {b.hello()};
  std::vector<std::string> to_a_ignored;
  ASSERT_TRUE(b.on_payload(a1.hello(), from_b).ok());  // b's proof over a1's nonce
  ASSERT_EQ(from_b.size(), 2u);
  // ...and replay it to server 1's next connection, which chose a new nonce.
  Handshake a2(config(1), nonce_of(11));
  std::vector<std::string> out;
  ASSERT_TRUE(a2.on_payload(from_b[0], out).ok());
  const absl::Status s = a2.on_payload(from_b[1], out);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(a2.established());
}

TEST(Handshake, AReflectedHelloIsRefused) {
  Handshake a(config(1), nonce_of(12));
  std::vector<std::string> out;
  const absl::Status s = a.on_payload(a.hello(), out);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("reflected"), std::string::npos);
}

TEST(Handshake, ThePeerPolicyDecidesWhoIsAdmitted) {
  HandshakeConfig strict = config(1);
  strict.admit = [](NodeId id, Role role) {
    if (role == Role::kServer && id != 2) return absl::PermissionDeniedError("not in the cluster file");
    return absl::OkStatus();
  };
  Handshake a(strict, nonce_of(13));
  Handshake stranger(config(9), nonce_of(14));
  const Outcome o = run(a, stranger);
  EXPECT_EQ(o.a.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(o.a.message().find("server 9 not admitted: not in the cluster file"), std::string::npos);
}

TEST(Handshake, GarbageInsteadOfAHelloIsRefusedAndFinal) {
  Handshake a(config(1), nonce_of(15));
  std::vector<std::string> out;
  EXPECT_EQ(a.on_payload("\x01\x02garbage", out).code(), absl::StatusCode::kInvalidArgument);
  Handshake b(config(2), nonce_of(16));
  EXPECT_FALSE(a.on_payload(b.hello(), out).ok());  // failed for good
}

// A peer's Refusal is a refusal whatever code it carries: one that says OK (code 0) once aborted
// the process, from an unauthenticated peer (found by fuzz/link_fuzz.cc).
TEST(Handshake, ARefusalIsAFailureWhateverCodeItCarries) {
  for (const int code : {0, 5, 16, 17, 255}) {
    SCOPED_TRACE(code);
    Handshake a(config(1), nonce_of(17));
    std::vector<std::string> out;
    const absl::Status s =
        a.on_payload(wire::encode(Refusal{static_cast<uint8_t>(code), "go away"}), out);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code == 5 ? absl::StatusCode::kNotFound
                        : code == 16 ? absl::StatusCode::kUnauthenticated
                                     : absl::StatusCode::kUnknown);
    EXPECT_NE(s.message().find("refused by the peer: go away"), std::string::npos) << s;
    EXPECT_FALSE(a.established());
  }
}

}  // namespace
}  // namespace walle::link
