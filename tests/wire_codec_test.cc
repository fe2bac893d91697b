#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/wire/codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidcheck/gtest.h"  // after gtest/gtest.h, which it needs

namespace walle::wire {
namespace {

using ::testing::HasSubstr;

struct Inner {
  uint32_t id = 0;
  std::string label;
  std::vector<int64_t> values;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, label, values);
  }
  friend bool operator==(const Inner&, const Inner&) = default;
};

struct Alpha {
  static constexpr uint16_t kWireType = 1;
  uint64_t seq = 0;
  int32_t delta = 0;
  bool flag = false;
  std::string name;
  std::vector<uint8_t> bytes;
  std::vector<std::string> tags;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(seq, delta, flag, name, bytes, tags);
  }
  friend bool operator==(const Alpha&, const Alpha&) = default;
};

struct Beta {
  static constexpr uint16_t kWireType = 0x0207;
  int64_t when = 0;
  Inner inner;
  std::vector<Inner> children;
  bool last = false;
  uint16_t small = 0;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(when, inner, children, last, small);
  }
  friend bool operator==(const Beta&, const Beta&) = default;
};

using Message = std::variant<Alpha, Beta>;

Alpha sample_alpha() {
  return Alpha{.seq = 0x0102030405060708ULL,
               .delta = -42,
               .flag = true,
               .name = std::string("na\0me", 5),
               .bytes = {0, 1, 255, 128},
               .tags = {"", "x", std::string(300, 't')}};
}

Beta sample_beta() {
  return Beta{.when = -1234567890123LL,
              .inner = {7, "inner", {1, -1, INT64_MIN, INT64_MAX}},
              .children = {{1, "a", {}}, {2, "", {5}}},
              .last = true,
              .small = 65535};
}

std::string with_type(uint16_t type, std::string_view body) {
  std::string out;
  out.push_back(static_cast<char>(type & 0xff));
  out.push_back(static_cast<char>(type >> 8));
  out.append(body);
  return out;
}

TEST(WireCodec, EncodingIsTypeTagThenLittleEndianFieldsInOrder) {
  const Alpha m{.seq = 1, .delta = -2, .flag = true, .name = "hi", .bytes = {9}, .tags = {}};
  const std::string expected(
      "\x01\x00"                          // type 1, u16 LE
      "\x01\x00\x00\x00\x00\x00\x00\x00"  // seq
      "\xfe\xff\xff\xff"                  // delta
      "\x01"                              // flag
      "\x02hi"                            // name: varint size, bytes
      "\x01\x09"                          // bytes
      "\x00",                             // tags: empty
      2 + 8 + 4 + 1 + 3 + 2 + 1);
  EXPECT_EQ(encode(m), expected);
}

TEST(WireCodec, SizesAreVarints) {
  Alpha m;
  m.name = std::string(300, 'n');  // 300 = 0b10'0101100 -> 0xac 0x02
  const std::string bytes = encode(m);
  EXPECT_EQ(bytes.substr(15, 2), std::string("\xac\x02", 2));
  EXPECT_EQ(bytes.size(), 2u + 8 + 4 + 1 + 2 + 300 + 1 + 1);
}

TEST(WireCodec, RoundTripsEachAlternativeOfAVariant) {
  const Alpha a = sample_alpha();
  const Beta b = sample_beta();
  absl::StatusOr<Message> da = decode<Message>(encode(a));
  ASSERT_TRUE(da.ok()) << da.status();
  ASSERT_EQ(da->index(), 0u);
  EXPECT_EQ(std::get<Alpha>(*da), a);
  absl::StatusOr<Message> db = decode<Message>(encode(b));
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_EQ(db->index(), 1u);
  EXPECT_EQ(std::get<Beta>(*db), b);
}

TEST(WireCodec, RoundTripsDefaultValuedMessages) {
  absl::StatusOr<Message> da = decode<Message>(encode(Alpha{}));
  ASSERT_TRUE(da.ok()) << da.status();
  EXPECT_EQ(std::get<Alpha>(*da), Alpha{});
  absl::StatusOr<Beta> db = decode_as<Beta>(encode(Beta{}));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*db, Beta{});
}

TEST(WireCodec, PeekTypeReadsTheTagOnly) {
  EXPECT_EQ(peek_type(encode(sample_alpha())).value(), Alpha::kWireType);
  EXPECT_EQ(peek_type(encode(sample_beta())).value(), Beta::kWireType);
  EXPECT_EQ(peek_type(with_type(0xbeef, "")).value(), 0xbeef);
  EXPECT_EQ(peek_type("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(peek_type("x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WireCodec, EmptyInputIsInvalidArgument) {
  for (std::string_view input : {std::string_view(), std::string_view("\x01", 1)}) {
    absl::StatusOr<Message> d = decode<Message>(input);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(WireCodec, UnknownTypeIsInvalidArgument) {
  absl::StatusOr<Message> d = decode<Message>(with_type(99, ""));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("unknown message type 99"));
  // A known message is unknown to a protocol that does not list it.
  absl::StatusOr<std::variant<Beta>> only_beta = decode<std::variant<Beta>>(encode(sample_alpha()));
  EXPECT_EQ(only_beta.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(decode_as<Alpha>(encode(sample_beta())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WireCodec, EveryStrictPrefixOfAValidEncodingFailsCleanly) {
  for (const std::string& full :
       {encode(sample_alpha()), encode(sample_beta()), encode(Alpha{}), encode(Beta{})}) {
    ASSERT_TRUE(decode<Message>(full).ok());
    for (size_t n = 0; n < full.size(); ++n) {
      absl::StatusOr<Message> d = decode<Message>(std::string_view(full).substr(0, n));
      ASSERT_FALSE(d.ok()) << "prefix of " << n << " of " << full.size() << " bytes decoded";
      ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(WireCodec, TrailingBytesAreInvalidArgument) {
  for (const std::string& full : {encode(sample_alpha()), encode(sample_beta())}) {
    for (std::string_view tail : {std::string_view("\0", 1), std::string_view("xyz")}) {
      absl::StatusOr<Message> d = decode<Message>(full + std::string(tail));
      EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(d.status().message()), HasSubstr("trailing"));
    }
  }
}

// Alpha's body up to the `name` size varint: seq (8), delta (4), flag (1).
std::string alpha_head() { return std::string(13, '\0'); }

TEST(WireCodec, ForgedHugeSizeIsRejectedBeforeAllocating) {
  // name size = UINT64_MAX as a 10-byte varint, followed by a few bytes.
  const std::string huge("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
  absl::StatusOr<Message> d = decode<Message>(with_type(1, alpha_head() + huge + "abc"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("exceeds"));
  // One more than what remains is also a lie.
  d = decode<Message>(with_type(1, alpha_head() + "\x05" + "abcd"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  // A forged count of structs in a vector (Beta::children) as well.
  std::string beta_body(8, '\0');                             // when
  beta_body += std::string("\0\0\0\0", 4) + "\x00" + "\x00";  // inner: id, label, values
  beta_body += std::string("\xff\xff\xff\xff\x0f", 5);        // children: 2^32-1
  beta_body += std::string(20, '\0');                         // some bytes remain, far too few
  d = decode<Message>(with_type(Beta::kWireType, beta_body));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("exceeds"));
}

TEST(WireCodec, OverlongOrOverflowingVarintIsInvalidArgument) {
  // 11 continuation bytes: longer than any 64-bit varint.
  absl::StatusOr<Message> d =
      decode<Message>(with_type(1, alpha_head() + std::string(11, '\x80') + "\x00"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  // Tenth byte carries more than the 64th bit.
  d = decode<Message>(with_type(1, alpha_head() + std::string(9, '\xff') + "\x02"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WireCodec, BoolByteOtherThanZeroOrOneIsInvalidArgument) {
  std::string bytes = encode(sample_alpha());
  ASSERT_EQ(bytes[2 + 8 + 4], '\x01');  // the flag
  for (char bad : {'\x02', '\xff', '\x80'}) {
    bytes[2 + 8 + 4] = bad;
    absl::StatusOr<Message> d = decode<Message>(bytes);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(d.status().message()), HasSubstr("bool"));
  }
  bytes[2 + 8 + 4] = '\x00';
  absl::StatusOr<Message> d = decode<Message>(bytes);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(std::get<Alpha>(*d).flag);
}

// ---------------------------------------------------------------------------------------------
// Properties.

RC_GTEST_PROP(WireCodecProperty, AlphaRoundTrips,
              (uint64_t seq, int32_t delta, bool flag, std::string name, std::vector<uint8_t> bytes,
               std::vector<std::string> tags)) {
  const Alpha m{seq, delta, flag, name, bytes, tags};
  absl::StatusOr<Message> d = decode<Message>(encode(m));
  RC_ASSERT(d.ok());
  RC_ASSERT(d->index() == 0u);
  RC_ASSERT(std::get<Alpha>(*d) == m);
}

RC_GTEST_PROP(WireCodecProperty, BetaRoundTrips,
              (int64_t when, uint32_t id, std::string label, std::vector<int64_t> values,
               std::vector<std::pair<uint32_t, std::string>> children, bool last, uint16_t small)) {
  Beta m{when, Inner{id, label, values}, {}, last, small};
  for (auto& [cid, clabel] : children) m.children.push_back(Inner{cid, clabel, {}});
  absl::StatusOr<Beta> d = decode_as<Beta>(encode(m));
  RC_ASSERT(d.ok());
  RC_ASSERT(*d == m);
}

RC_GTEST_PROP(WireCodecProperty, RandomBytesNeverCrashTheDecoder, (std::string bytes)) {
  absl::StatusOr<Message> d = decode<Message>(bytes);
  if (!d.ok()) RC_ASSERT(d.status().code() == absl::StatusCode::kInvalidArgument);
}

RC_GTEST_PROP(WireCodecProperty, RandomBodiesOfKnownTypesNeverCrashTheDecoder,
              (bool beta, std::string body)) {
  // A valid tag, so that the body decoder (not the type check) sees the garbage.
  const std::string bytes = with_type(beta ? Beta::kWireType : Alpha::kWireType, body);
  absl::StatusOr<Message> d = decode<Message>(bytes);
  if (d.ok()) {
    RC_ASSERT(d->index() == (beta ? 1u : 0u));
  } else {
    RC_ASSERT(d.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

RC_GTEST_PROP(WireCodecProperty, MutatedEncodingsNeverCrashAndTruncationsAlwaysFail,
              (std::string name, std::vector<std::string> tags, uint8_t xor_mask)) {
  const std::string full =
      encode(Alpha{.seq = 3, .delta = 0, .flag = false, .name = name, .bytes = {}, .tags = tags});
  const size_t cut = *rc::gen::inRange<size_t>(0, full.size());
  RC_ASSERT(!decode<Message>(std::string_view(full).substr(0, cut)).ok());
  std::string mutated = full;
  mutated[*rc::gen::inRange<size_t>(0, full.size())] ^= static_cast<char>(xor_mask);
  absl::StatusOr<Message> d = decode<Message>(mutated);
  if (!d.ok()) RC_ASSERT(d.status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace walle::wire
