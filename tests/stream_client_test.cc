// StreamClient: one request-id space, replies routed to the part that asked and nowhere else,
// the claim-to-writer handoff, several streams at once, and teardown from inside callbacks.

#include "core/client/stream_client.h"

#include <optional>

#include "core/protocol/request_ids.h"
#include "core/wire/codec.h"
#include "gtest/gtest.h"
#include "sim/simulation.h"
#include "tests/protocol_harness.h"

namespace walle::client {
namespace {

using protocol::ClaimOptions;
using protocol::PutReply;
using protocol::Reader;
using protocol::ReaderOptions;
using protocol::Writer;
using protocol::WriterOptions;
using protocol::testing::ClientNode;

constexpr NodeId kClient = 3;
constexpr int64_t kLeaseNs = 200 * kNanosPerMilli;
const std::vector<NodeId> kMembers = {0, 1, 2};

class StreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = protocol::testing::make_cluster(1, kLeaseNs, {}, {"a", "b"});
    ASSERT_NE(sim_, nullptr);
  }
  StreamClient& client() { return sim_->node_as<ClientNode>(kClient)->client; }

  // Claims `stream` and runs until the claim is done; the writer, or nullptr.
  Writer* claim(const std::string& stream) {
    std::optional<absl::StatusOr<Claimed>> claimed;
    ClaimOptions options{stream, kMembers, kLeaseNs};
    options.preempt = true;
    EXPECT_TRUE(client()
                    .claim(options, WriterOptions{"", {}, kLeaseNs},
                           [&claimed](absl::StatusOr<Claimed> c) { claimed = std::move(c); })
                    .ok());
    while (!claimed && sim_->step()) {
    }
    EXPECT_TRUE(claimed && claimed->ok()) << (claimed ? claimed->status() : absl::OkStatus());
    if (!claimed || !claimed->ok()) return nullptr;
    EXPECT_EQ((*claimed)->writer, client().writer(stream));
    EXPECT_EQ(client().claim_in_progress(stream), nullptr);
    return (*claimed)->writer;
  }

  // Puts `count` entries through `w`; runs until they are committed. How many committed.
  int put_committed(Writer& w, int count) {
    int committed = 0;
    for (int i = 0; i < count; ++i) {
      EXPECT_TRUE(w.put("entry " + std::to_string(i), [&committed](absl::Status s) {
                     committed += s.ok();
                   }).ok());
    }
    const int64_t deadline = sim_->now_ns() + kNanosPerSecond;
    while (committed < count && sim_->now_ns() < deadline && sim_->step()) {
    }
    return committed;
  }

  std::unique_ptr<sim::Simulation> sim_;
};

TEST_F(StreamClientTest, TwoStreamsEachGetTheirOwnWriterAndCommitIndependently) {
  Writer* a = claim("a");
  Writer* b = claim("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(put_committed(*a, 5), 5);
  EXPECT_EQ(put_committed(*b, 3), 3);
  EXPECT_EQ(a->committed_id(), 5u);
  EXPECT_EQ(b->committed_id(), 3u);
  EXPECT_EQ(client().parts(), 2u);
  client().check_invariants();
}

TEST_F(StreamClientTest, AReplyForADroppedWriterReachesNobodyNotItsSuccessor) {
  Writer* first = claim("a");
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(put_committed(*first, 2), 2);
  // A put in flight when the writer is dropped fails with the reason given, at once.
  std::optional<absl::Status> failed;
  ASSERT_TRUE(first->put("in flight", [&failed](absl::Status s) { failed = s; }).ok());
  client().drop_writer("a", absl::CancelledError("going away"));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(client().writer("a"), nullptr);

  Writer* second = claim("a");
  ASSERT_NE(second, nullptr);
  // A member's late answer to the first writer's range is not the second writer's.
  const uint64_t first_range_id = (uint64_t{2} << protocol::kRequestIdRangeBits) + 7;
  EXPECT_EQ(client().on_message(0, PutReply{"a", first_range_id, 1, {}}), Routed::kNobody);
  EXPECT_EQ(put_committed(*second, 4), 4);
  EXPECT_GE(second->committed_id(), 4u);
  client().check_invariants();
}

TEST_F(StreamClientTest, ASecondClaimOfAStreamWaitsForTheFirst) {
  ASSERT_TRUE(client().claim(ClaimOptions{"a", kMembers, kLeaseNs}, WriterOptions{},
                             [](absl::StatusOr<Claimed>) {}).ok());
  const absl::Status second = client().claim(ClaimOptions{"a", kMembers, kLeaseNs},
                                             WriterOptions{}, [](absl::StatusOr<Claimed>) {});
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  // Another stream is not held up.
  EXPECT_TRUE(client().claim(ClaimOptions{"b", kMembers, kLeaseNs}, WriterOptions{},
                             [](absl::StatusOr<Claimed>) {}).ok());
  // A cancelled claim never calls back, and its replies reach nobody.
  client().cancel_claim("a");
  EXPECT_EQ(client().claim_in_progress("a"), nullptr);
  sim_->run_for(kNanosPerSecond);
  EXPECT_EQ(client().writer("a"), nullptr);
  EXPECT_NE(client().writer("b"), nullptr);
  client().check_invariants();
}

TEST_F(StreamClientTest, AWriterDroppedInsideItsOwnCallbackGoesAfterTheCallback) {
  Writer* w = claim("a");
  ASSERT_NE(w, nullptr);
  int calls = 0;
  ASSERT_TRUE(w->put("one", [&](absl::Status s) {
                 ++calls;
                 // The writer is still whole here; the client destroys it after this returns.
                 client().drop_writer("a", absl::CancelledError("done with it"));
                 EXPECT_TRUE(w->closed());
               }).ok());
  sim_->run_for(kNanosPerSecond);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client().writer("a"), nullptr);
  EXPECT_EQ(client().parts(), 0u);
}

TEST_F(StreamClientTest, AClosedReaderNeverCallsBackAndItsRepliesReachNobody) {
  Writer* w = claim("a");
  ASSERT_NE(w, nullptr);
  ASSERT_EQ(put_committed(*w, 3), 3);
  sim_->run_for(kLeaseNs);  // the commit point reaches the members
  Reader& reader = client().open_reader(ReaderOptions{"a", kMembers});
  std::optional<absl::StatusOr<std::vector<Entry>>> read;
  ASSERT_TRUE(reader.read(1, 0, [&read](auto r) { read = std::move(r); }).ok());
  while (!read && sim_->step()) {
  }
  ASSERT_TRUE(read && read->ok());
  EXPECT_EQ((*read)->size(), 3u);

  bool called = false;
  ASSERT_TRUE(reader.read(4, kNanosPerSecond, [&called](auto) { called = true; }).ok());
  client().close_reader(reader);
  ASSERT_EQ(put_committed(*w, 1), 1);  // what the closed read waited for
  sim_->run_for(2 * kNanosPerSecond);
  EXPECT_FALSE(called);
  client().check_invariants();
}

TEST_F(StreamClientTest, MalformedBytesReachNobody) {
  EXPECT_EQ(client().receive(0, "not a message"), Routed::kNobody);
  EXPECT_EQ(client().on_message(0, PutReply{"a", 0, 1, {}}), Routed::kNobody);
}

}  // namespace
}  // namespace walle::client
