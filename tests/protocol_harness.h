#pragma once

// A client process for protocol tests: runs claims, hosts a writer, and records the put
// replies that neither consumed (when it plays a writer by hand).

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/protocol/claim.h"
#include "core/protocol/reader.h"
#include "core/protocol/writer.h"
#include "core/wire/codec.h"

namespace walle::protocol::testing {

class ClientNode final : public Node {
 public:
  ClientNode(Env& env, int64_t lease_ns) : env(env), lease_ns_(lease_ns) {}
  void start() override {}
  void receive(NodeId from, std::string_view bytes) override {
    absl::StatusOr<ProtocolMessage> m = wire::decode<ProtocolMessage>(bytes);
    if (!m.ok()) return;
    if (claim != nullptr && claim->on_message(from, *m)) return;
    if (writer != nullptr && writer->on_message(from, *m)) return;
    if (reader != nullptr && reader->on_message(from, *m)) return;
    if (const auto* r = std::get_if<PutReply>(&*m)) put_replies.push_back({from, *r});
  }
  // Claims stream "s" on members 0, 1, 2; tests mostly take the stream over on purpose.
  void start_claim(bool preempt = true) {
    result.reset();
    ClaimOptions options{"s", {0, 1, 2}, lease_ns_, 2 * kNanosPerSecond, 5, 1 << 20};
    options.preempt = preempt;
    claim = std::make_unique<ClaimCoordinator>(
        env, std::move(options), [this](absl::StatusOr<ClaimResult> r) { result = std::move(r); });
    claim->start();
  }

  Env& env;
  std::unique_ptr<ClaimCoordinator> claim;
  std::optional<absl::StatusOr<ClaimResult>> result;
  std::unique_ptr<Writer> writer;
  std::unique_ptr<Reader> reader;
  std::vector<std::pair<NodeId, PutReply>> put_replies;

 private:
  int64_t lease_ns_;
};

}  // namespace walle::protocol::testing
