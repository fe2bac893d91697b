// libFuzzer target: one member's state machines (MemberNode, StreamReplica, its store) fed a
// fuzz-chosen sequence of decoded protocol messages from peers and clients, between simulated
// steps, crashes and restarts, on the simulated disk. The messages are well formed (built from
// fuzzed fields, so that decoding is not where the fuzzer stops), and the entries come from two
// valid chains (right checksums, so that puts get past the checksum check into the ordering
// queue, gap commits, truncations and backfill), sent in any order, under any writer stamp,
// with any commit point. Every WALLE_CHECK of the member runs, and after every step its
// check_invariants(); ASan and UBSan watch memory. Nothing may crash.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/env/node.h"
#include "core/protocol/member_node.h"
#include "core/protocol/messages.h"
#include "core/util/check.h"
#include "core/wire/codec.h"
#include "sim/simulation.h"

namespace walle::protocol {
namespace {

constexpr NodeId kMember = 0;
constexpr NodeId kPeers = 3;     // nodes 1 and 2: the other members; 3: a client
constexpr const char* kStream = "s";

// A peer or client: sends what the fuzzer says, drops what the member answers.
class FuzzPeer final : public Node {
 public:
  explicit FuzzPeer(Env& env) : env_(env) {}
  void start() override {}
  void receive(NodeId, std::string_view) override {}
  void send(std::string bytes) { env_.transport.send(kMember, std::move(bytes)); }

 private:
  Env& env_;
};

// Two chains of entries with correct checksums: the same ids with different data, as two
// writers' competing suffixes would be.
struct Chains {
  std::vector<Entry> chain[2];
  Chains() {
    for (int c = 0; c < 2; ++c) {
      uint64_t checksum = 0;
      chain[c].push_back(entry_zero());
      for (uint64_t id = 1; id <= 24; ++id) {
        Entry e;
        e.id = id;
        // Shared up to 8, then they diverge.
        e.data = id <= 8 ? "e" + std::to_string(id) : "c" + std::to_string(c) + "e" + std::to_string(id);
        checksum = chain_checksum(checksum, e.data);
        e.checksum = checksum;
        chain[c].push_back(e);
      }
    }
  }
};

WriterId fuzzed_writer(FuzzedDataProvider& in) {
  return WriterId{in.ConsumeIntegralInRange<uint64_t>(0, 5), in.ConsumeIntegralInRange<uint64_t>(0, 3)};
}

std::string fuzzed_stream(FuzzedDataProvider& in) {
  return in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeRandomLengthString(8) : kStream;
}

std::string next_message(FuzzedDataProvider& in, const Chains& chains, uint64_t& request_id) {
  const int64_t lease_ns = in.ConsumeIntegralInRange<int64_t>(-1, 500) * kNanosPerMilli;
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
    case 1: {  // a put from a chain (most messages), sometimes with a damaged entry
      const std::vector<Entry>& chain = chains.chain[in.ConsumeIntegralInRange<int>(0, 1)];
      PutRequest put;
      put.stream = fuzzed_stream(in);
      put.request_id = ++request_id;
      put.writer = fuzzed_writer(in);
      put.entry = chain[in.ConsumeIntegralInRange<size_t>(1, chain.size() - 1)];
      put.entry.writer = in.ConsumeBool() ? put.writer : fuzzed_writer(in);
      const uint64_t committed = in.ConsumeIntegralInRange<uint64_t>(0, put.entry.id);
      put.committed_id = committed;
      put.committed_checksum = in.ConsumeBool() ? chain[std::min<uint64_t>(committed, chain.size() - 1)].checksum
                                                : in.ConsumeIntegral<uint64_t>();
      if (in.ConsumeIntegralInRange<int>(0, 15) == 0) put.entry.checksum ^= 1;
      put.lease_ns = lease_ns;
      return wire::encode(put);
    }
    case 2: {
      NewWriterRequest r;
      r.stream = fuzzed_stream(in);
      r.request_id = ++request_id;
      r.writer = fuzzed_writer(in);
      r.lease_ns = lease_ns;
      return wire::encode(r);
    }
    case 3: {
      WriterInfoRequest r;
      r.stream = fuzzed_stream(in);
      r.request_id = ++request_id;
      return wire::encode(r);
    }
    case 4: {
      TailRequest r;
      r.stream = fuzzed_stream(in);
      r.request_id = ++request_id;
      return wire::encode(r);
    }
    default: {
      ReadRequest r;
      r.stream = fuzzed_stream(in);
      r.request_id = ++request_id;
      r.from = in.ConsumeIntegralInRange<uint64_t>(0, 30);
      r.to = in.ConsumeBool() ? UINT64_MAX : in.ConsumeIntegralInRange<uint64_t>(0, 30);
      r.max_bytes = in.ConsumeIntegralInRange<uint64_t>(0, 4096);
      r.allow_uncommitted = in.ConsumeBool();
      r.wait_ns = in.ConsumeIntegralInRange<int64_t>(-1, 300) * kNanosPerMilli;
      return wire::encode(r);
    }
  }
}

}  // namespace
}  // namespace walle::protocol

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace walle;
  using namespace walle::protocol;
  static const Chains chains;
  FuzzedDataProvider in(data, size);
  sim::SimConfig config;
  config.seed = in.ConsumeIntegral<uint32_t>();
  config.node_count = kPeers + 1;
  MemberOptions options;
  options.streams = {kStream};
  options.members = {0, 1, 2};
  options.store.segment_bytes = 8192;  // rolls and cuts often
  options.store.max_entry_bytes = 1024;
  auto created = sim::Simulation::create(config, [&](Env& env) -> std::unique_ptr<Node> {
    if (env.self == kMember) return std::make_unique<MemberNode>(env, options);
    return std::make_unique<FuzzPeer>(env);
  });
  WALLE_CHECK(created.ok());
  sim::Simulation& sim = **created;
  sim.start_all();
  uint64_t request_id = 0;
  auto steps = [&](int n) {
    for (int i = 0; i < n && sim.step(); ++i) {
      if (const Node* member = sim.node(kMember)) member->check_invariants();
    }
  };
  while (in.remaining_bytes() > 0) {
    const int action = in.ConsumeIntegralInRange<int>(0, 31);
    if (action < 24) {
      const NodeId from = in.ConsumeIntegralInRange<NodeId>(1, kPeers);
      auto* peer = sim.node_as<FuzzPeer>(from);
      if (peer != nullptr) peer->send(next_message(in, chains, request_id));
    } else if (action < 30) {
      steps(in.ConsumeIntegralInRange<int>(1, 64));
    } else if (action == 30) {
      (void)sim.crash(kMember);  // the disk image keeps what was synced (and a torn rest)
      (void)sim.start(kMember);
    } else {
      sim.run_until(sim.now_ns() + in.ConsumeIntegralInRange<int64_t>(1, 2000) * kNanosPerMilli);
    }
  }
  steps(256);  // what the last messages started
  return 0;
}
