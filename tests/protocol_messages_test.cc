// Every protocol message survives the wire unchanged, and garbage never decodes into one.

#include "core/protocol/messages.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"

namespace walle::protocol {
namespace {

Entry sample_entry() {
  return Entry{.id = 42, .writer = {7, 9}, .checksum = 0xabcdef, .data = std::string("d\0ta", 4)};
}

template <class T>
void expect_round_trip(const T& message) {
  absl::StatusOr<ProtocolMessage> decoded = wire::decode<ProtocolMessage>(wire::encode(message));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(std::holds_alternative<T>(*decoded));
  EXPECT_EQ(std::get<T>(*decoded), message);
}

TEST(ProtocolMessages, EveryMessageRoundTrips) {
  const WireStatus status = WireStatus::from(absl::OutOfRangeError("entry 5 beyond tail 3+1"));
  expect_round_trip(PutRequest{"s", 1, {2, 3}, 4, 5, sample_entry(), 600});
  expect_round_trip(PutReply{"s", 1, 42, status});
  expect_round_trip(NewWriterRequest{"s", 2, {5, 6}, 1'000'000'000});
  expect_round_trip(NewWriterReply{"s", 2, WireStatus{}});
  expect_round_trip(WriterInfoRequest{"s", 3});
  expect_round_trip(WriterInfoReply{"s", 3, WireStatus{}, {1, 2}, 500, -20, 17});
  expect_round_trip(TailRequest{"s", 4});
  expect_round_trip(
      TailReply{"s", 4, WireStatus{}, {{1, 2, {3, 4}, true}, {2, 9, {3, 4}, false}}, storage::TailDamage::kUncertain});
  expect_round_trip(ReadRequest{"s", 5, 10, 20, 4096, true, 250});
  expect_round_trip(ReadReply{"s", 5, status, {sample_entry(), Entry{}}, 17});
}

TEST(ProtocolMessages, StatusesKeepTheirCodeAndMessage) {
  const absl::Status original = absl::FailedPreconditionError("writer superseded");
  EXPECT_EQ(WireStatus::from(original).to_status(), original);
  EXPECT_TRUE(WireStatus::from(absl::OkStatus()).to_status().ok());
  const WireStatus unknown{200, "?"};
  EXPECT_EQ(unknown.to_status().code(), absl::StatusCode::kUnknown);
}

// One encoding per message: a damage byte no TailDamage has is refused, not read as kRot and
// sent on as another byte (found by fuzz/link_fuzz.cc).
TEST(ProtocolMessages, ATailReplyWithAnUnknownDamageByteIsRefused) {
  TailReply reply;
  reply.stream = "s";
  reply.damage = storage::TailDamage::kRot;
  std::string bytes = wire::encode(reply);
  ASSERT_TRUE(wire::decode<ProtocolMessage>(bytes).ok());
  bytes.back() = 9;  // the damage byte is the last field
  const absl::StatusOr<ProtocolMessage> decoded = wire::decode<ProtocolMessage>(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("tail damage byte is 9"), std::string::npos)
      << decoded.status();
}

RC_GTEST_PROP(ProtocolMessages, PutRequestsRoundTripForAnyValues,
              (std::string stream, uint64_t request_id, uint64_t ts, uint64_t id, uint64_t c,
               uint64_t cx, uint64_t entry_id, std::string data)) {
  const PutRequest put{stream, request_id, {ts, id}, c, cx, Entry{entry_id, {id, ts}, cx, data}};
  absl::StatusOr<ProtocolMessage> decoded = wire::decode<ProtocolMessage>(wire::encode(put));
  RC_ASSERT(decoded.ok());
  RC_ASSERT(std::get<PutRequest>(*decoded) == put);
}

RC_GTEST_PROP(ProtocolMessages, ArbitraryBytesNeverCrashTheDecoder, (std::string bytes)) {
  // Either a clean error or a message that re-encodes to exactly these bytes.
  absl::StatusOr<ProtocolMessage> decoded = wire::decode<ProtocolMessage>(bytes);
  if (decoded.ok()) {
    RC_ASSERT(std::visit([](const auto& m) { return wire::encode(m); }, *decoded) == bytes);
  }
}

}  // namespace
}  // namespace walle::protocol
