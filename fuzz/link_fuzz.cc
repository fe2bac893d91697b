// libFuzzer target: what an unauthenticated peer can send a server. A fuzz-chosen byte stream
// (raw bytes; frames around fuzzed payloads, so that the frame checks pass and the fuzzer gets
// past them; or frames around a Hello with fuzzed fields, some of them right), cut into pieces,
// goes through the frame reader; each whole frame's payload goes to a server's
// handshake, and is also decoded as a protocol message (what a server does with frames once a
// handshake is done). It must never crash, and:
// - the frame reader holds exactly the bytes fed and not yet returned, never yields a payload
//   over its limit, every payload it yields re-frames to the bytes it came from, and once
//   broken it stays broken;
// - the handshake never becomes established: that would take a Proof made with a secret the
//   input cannot know (an HMAC forgery);
// - a protocol message it decodes re-encodes to the same bytes (the encoding is canonical).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/link/frame.h"
#include "core/link/handshake.h"
#include "core/link/link_messages.h"
#include "core/protocol/messages.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::link {
namespace {

Handshake make_server_handshake() {
  HandshakeConfig config;
  config.cluster_id = "fuzz";
  config.self = 0;
  config.role = Role::kServer;
  config.secret = "a secret the fuzzer never sees: 7f3c9a1e";
  config.admit = [](NodeId, Role) { return absl::OkStatus(); };
  Nonce nonce{};
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i * 7 + 1);
  return Handshake(std::move(config), nonce);
}

// One piece of the stream a peer sends: raw bytes, a frame around fuzzed bytes, or a frame
// around a Hello whose fields are fuzzed (or right).
std::string next_piece(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      return in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(1, 64));
    case 1: {
      std::string frame;
      append_frame(in.ConsumeRandomLengthString(256), frame);
      return frame;
    }
    case 2: {
      Hello hello;
      hello.version = in.ConsumeBool() ? kLinkVersion : in.ConsumeIntegral<uint16_t>();
      hello.features = in.ConsumeBool() ? 0 : in.ConsumeIntegral<uint64_t>();
      hello.cluster_id = in.ConsumeBool() ? "fuzz" : in.ConsumeRandomLengthString(16);
      hello.node_id = in.ConsumeIntegral<uint32_t>();
      hello.role = in.ConsumeIntegralInRange<uint8_t>(0, 3);
      hello.nonce = in.ConsumeBool() ? std::string(kNonceBytes, 'n') : in.ConsumeRandomLengthString(40);
      std::string frame;
      append_frame(wire::encode(hello), frame);
      return frame;
    }
    default: {
      // A frame, damaged: one byte flipped somewhere.
      std::string frame;
      append_frame(in.ConsumeRandomLengthString(64), frame);
      frame[in.ConsumeIntegralInRange<size_t>(0, frame.size() - 1)] ^=
          static_cast<char>(in.ConsumeIntegralInRange<int>(1, 255));
      return frame;
    }
  }
}

void check_protocol_decode(const std::string& payload) {
  absl::StatusOr<protocol::ProtocolMessage> decoded =
      wire::decode<protocol::ProtocolMessage>(payload);
  if (!decoded.ok()) return;
  const std::string again =
      std::visit([](const auto& m) { return wire::encode(m); }, *decoded);
  if (again != payload) {
    // Both in hex, for the report.
    auto hex = [](const std::string& b) {
      std::string out;
      for (unsigned char c : b) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
      return out;
    };
    fprintf(stderr, "message %zu: %s\nre-encoded: %s\n", decoded->index(), hex(payload).c_str(),
            hex(again).c_str());
  }
  WALLE_CHECK_MSG(again == payload, "accepted a message that does not re-encode identically");
}

}  // namespace
}  // namespace walle::link

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walle::link;
  FuzzedDataProvider in(data, size);
  const uint32_t limit = in.ConsumeIntegralInRange<uint32_t>(0, 4096);
  FrameReader reader(limit);
  Handshake handshake = make_server_handshake();
  bool handshake_failed = false;
  bool broken = false;
  std::string fed;          // every byte fed, to check payloads against their frames
  size_t returned_end = 0;  // where the frames returned so far end in `fed`
  while (in.remaining_bytes() > 0) {
    const std::string piece = next_piece(in);
    // Fed in two parts split at a fuzzed point: frames arrive in any pieces.
    const size_t split = in.ConsumeIntegralInRange<size_t>(0, piece.size());
    reader.feed(std::string_view(piece).substr(0, split));
    reader.feed(std::string_view(piece).substr(split));
    fed += piece;
    for (;;) {
      absl::StatusOr<std::optional<std::string>> frame = reader.next();
      if (!frame.ok()) {
        broken = true;
        WALLE_CHECK(!reader.next().ok());  // final
        break;
      }
      WALLE_CHECK_MSG(!broken, "a broken frame reader yielded a frame");
      if (!frame->has_value()) break;
      const std::string& payload = **frame;
      WALLE_CHECK(payload.size() <= limit);
      std::string framed;
      append_frame(payload, framed);
      WALLE_CHECK_MSG(fed.compare(returned_end, framed.size(), framed) == 0,
                      "a payload does not re-frame to the bytes it came from");
      returned_end += framed.size();
      if (!handshake_failed) {
        std::vector<std::string> out;
        if (!handshake.on_payload(payload, out).ok()) handshake_failed = true;
      }
      WALLE_CHECK_MSG(!handshake.established(), "a handshake succeeded without the secret");
      check_protocol_decode(payload);
    }
    if (broken) break;
    WALLE_CHECK(reader.buffered_bytes() == fed.size() - returned_end);
  }
  return 0;
}
