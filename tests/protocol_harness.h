#pragma once

// Protocol test scaffolding: a client process that runs claims, hosts a writer and a reader,
// and records the put replies that neither consumed (when it plays a writer by hand); a
// three-member cluster; helpers to become the writer, write, and read a member's store.

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/client/stream_client.h"
#include "core/protocol/claim.h"
#include "core/protocol/member_node.h"
#include "core/protocol/reader.h"
#include "core/protocol/request_ids.h"
#include "core/protocol/writer.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/storage_harness.h"

namespace walle::protocol::testing {

// A client process on the one StreamClient every client drives; it records the put replies
// that no part of it took, when a test plays a writer by hand. By default a successful claim
// leaves no writer behind (tests of the claim play the writer by hand); keep_writer keeps it.
class ClientNode final : public Node {
 public:
  ClientNode(Env& env, int64_t lease_ns) : env(env), client(env), lease_ns_(lease_ns) {}
  void start() override {}
  void receive(NodeId from, std::string_view bytes) override {
    absl::StatusOr<ProtocolMessage> m = wire::decode<ProtocolMessage>(bytes);
    if (!m.ok()) return;
    if (client.on_message(from, *m) != client::Routed::kNobody) return;
    // Replies to puts sent by hand (their ids are below every range the client hands out),
    // not late ones to a writer the client dropped.
    const auto* r = std::get_if<PutReply>(&*m);
    if (r != nullptr && request_id_range(r->request_id) == 0) put_replies.push_back({from, *r});
  }
  void check_invariants() const override { client.check_invariants(); }
  // Claims stream "s" on members 0, 1, 2; tests mostly take the stream over on purpose.
  void start_claim(bool preempt = true, bool keep_writer = false) {
    result.reset();
    client.cancel_claim("s");
    ClaimOptions options{"s", {0, 1, 2}, lease_ns_, 2 * kNanosPerSecond, 5, 1 << 20};
    options.preempt = preempt;
    const absl::Status started = client.claim(
        std::move(options), WriterOptions{"s", {0, 1, 2}, lease_ns_},
        [this, keep_writer](absl::StatusOr<client::Claimed> claimed) {
          if (!claimed.ok()) {
            result = claimed.status();
            return;
          }
          result = claimed->result;
          if (!keep_writer) client.drop_writer("s", absl::CancelledError("played by hand"));
        });
    EXPECT_TRUE(started.ok()) << started;
  }
  Writer* writer() const { return client.writer("s"); }
  const ClaimCoordinator* claim() const { return client.claim_in_progress("s"); }
  Reader& open_reader() { return *(reader = &client.open_reader(ReaderOptions{"s", {0, 1, 2}})); }

  Env& env;
  client::StreamClient client;
  std::optional<absl::StatusOr<ClaimResult>> result;
  Reader* reader = nullptr;
  std::vector<std::pair<NodeId, PutReply>> put_replies;

 private:
  int64_t lease_ns_;
};

// Members 0, 1 and 2 serving `streams` (each other's backfill peers), then `clients` client
// nodes (ids 3, 4, ...), all started.
inline std::unique_ptr<sim::Simulation> make_cluster(uint32_t clients, int64_t lease_ns,
                                                     ReplicaOptions replica = {},
                                                     std::vector<std::string> streams = {"s"}) {
  sim::SimConfig config;
  config.node_count = 3 + clients;
  auto created =
      sim::Simulation::create(config, [lease_ns, replica, streams](Env& env) -> std::unique_ptr<Node> {
        if (env.self >= 3) return std::make_unique<ClientNode>(env, lease_ns);
        return std::make_unique<MemberNode>(
            env, MemberOptions{streams, storage::testing::small_options(), replica, {0, 1, 2}});
      });
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return nullptr;
  (*created)->start_all();
  (*created)->run_for(10 * kNanosPerMilli);
  return std::move(*created);
}

// Claims on `client` and makes it the writer.
inline void become_writer(sim::Simulation& sim, NodeId client) {
  ClientNode& c = *sim.node_as<ClientNode>(client);
  c.start_claim(/*preempt=*/true, /*keep_writer=*/true);
  while (!c.result && sim.step()) {
  }
  ASSERT_TRUE(c.result && c.result->ok()) << (c.result ? c.result->status() : absl::OkStatus());
  ASSERT_NE(c.writer(), nullptr);
}

// Writes `count` entries through `client`'s writer and runs until all are committed; returns
// their checksums.
inline std::vector<uint64_t> write_committed(sim::Simulation& sim, NodeId client, int count) {
  Writer& w = *sim.node_as<ClientNode>(client)->writer();
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
