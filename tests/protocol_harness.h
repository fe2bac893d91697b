#pragma once

// Protocol test scaffolding: a client process that runs claims, hosts a writer and a reader,
// and records the put replies that neither consumed (when it plays a writer by hand); a
// three-member cluster; helpers to become the writer, write, and read a member's store.

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/protocol/claim.h"
#include "core/protocol/member_node.h"
#include "core/protocol/reader.h"
#include "core/protocol/writer.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/storage_harness.h"

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
  void check_invariants() const override {
    if (claim != nullptr) claim->check_invariants();
    if (writer != nullptr) writer->check_invariants();
    if (reader != nullptr) reader->check_invariants();
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

// Members 0, 1 and 2 serving stream "s" (each other's backfill peers), then `clients` client
// nodes (ids 3, 4, ...), all started.
inline std::unique_ptr<sim::Simulation> make_cluster(uint32_t clients, int64_t lease_ns,
                                                     ReplicaOptions replica = {}) {
  sim::SimConfig config;
  config.node_count = 3 + clients;
  auto created =
      sim::Simulation::create(config, [lease_ns, replica](Env& env) -> std::unique_ptr<Node> {
        if (env.self >= 3) return std::make_unique<ClientNode>(env, lease_ns);
        return std::make_unique<MemberNode>(
            env, MemberOptions{{"s"}, storage::testing::small_options(), replica, {0, 1, 2}});
      });
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return nullptr;
  (*created)->start_all();
  (*created)->run_for(10 * kNanosPerMilli);
  return std::move(*created);
}

// Claims on `client` and makes it the writer.
inline void become_writer(sim::Simulation& sim, NodeId client, int64_t lease_ns) {
  ClientNode& c = *sim.node_as<ClientNode>(client);
  c.start_claim();
  while (!c.result && sim.step()) {
  }
  ASSERT_TRUE(c.result && c.result->ok()) << (c.result ? c.result->status() : absl::OkStatus());
  c.writer = std::make_unique<Writer>(c.env, WriterOptions{"s", {0, 1, 2}, lease_ns}, **c.result);
}

// Writes `count` entries through `client`'s writer and runs until all are committed; returns
// their checksums.
inline std::vector<uint64_t> write_committed(sim::Simulation& sim, NodeId client, int count) {
  Writer& w = *sim.node_as<ClientNode>(client)->writer;
  std::vector<uint64_t> checksums;
  int committed = 0;
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(w.put("entry " + std::to_string(i), [&committed](absl::Status s) {
                   committed += s.ok();
                 }).ok());
    checksums.push_back(w.tail_checksum());
  }
  while (committed < count && sim.step()) {
  }
  EXPECT_EQ(committed, count);
  return checksums;
}

// Committed entries [from, to) as `store` holds them.
inline std::vector<Entry> read_committed(sim::Simulation& sim, storage::StreamStore& store,
                                         uint64_t from, uint64_t to) {
  std::optional<absl::StatusOr<std::vector<Entry>>> read;
  store.read(from, to, 1 << 20, false,
             [&read](absl::StatusOr<std::vector<Entry>> r) { read = std::move(r); });
  while (!read && sim.step()) {
  }
  EXPECT_TRUE(read && read->ok()) << (read ? read->status() : absl::OkStatus());
  return read && read->ok() ? **read : std::vector<Entry>{};
}

}  // namespace walle::protocol::testing
