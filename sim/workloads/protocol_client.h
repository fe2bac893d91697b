#pragma once

// The protocol workload's client process: claims the stream, writes pipelined entries, tails
// it (one client reads), and now and then competes for it. Reports to the Checker.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/client/stream_client.h"
#include "core/env/env.h"
#include "core/env/node.h"
#include "core/protocol/claim.h"
#include "sim/workloads/protocol_checker.h"
#include "core/protocol/reader.h"
#include "core/protocol/writer.h"

namespace walle::sim::protocol_workload {

class Checker;

struct ClientConfig {
  std::vector<NodeId> members;
  int64_t lease_ns;
  uint64_t entries;  // to write in all, per client
  uint64_t max_entry_bytes;
  double compete_per_tick;  // chance per tick of claiming while already writing
  bool bug_commit_without_majority;
  bool bug_lease_from_reply;
  NodeId reader;  // the client that also tails the stream (one is enough, and reads cost)
  // Told when a client's claim succeeded, before its writer sends anything (a scenario's cue).
  std::function<void(NodeId)>* writer_started = nullptr;
  uint64_t max_in_flight_entries = 32;  // the writer's pipeline
  uint64_t claim_chunk_bytes = 64 << 10;  // a claim's repair reads
  std::string stream = kStream;  // the one it writes and reads
};

class ProtocolClient final : public Node {
 public:
  ProtocolClient(Env& env, const ClientConfig& config, Checker& checker,
                 std::vector<ProtocolClient*>& registry);
  ~ProtocolClient() override;

  void start() override;
  void receive(NodeId from, std::string_view bytes) override;
  // The claim's, the writer's and the reader's.
  void check_invariants() const override;

  const protocol::Writer* writer() const;
  bool reads() const { return env_.self == config_.reader; }
  uint64_t read_through() const { return read_from_ - 1; }
  uint64_t written() const { return written_; }
  void set_stopped(bool stopped) { stopped_ = stopped; }
  // A scenario's takeover: claim now (preempting a live lease or not), unless a claim runs
  // or every entry is written.
  void claim_now(bool preempt);

 private:
  void schedule_tick(int64_t delay_ns);
  void tick();
  void read_next();
  void back_off(int64_t now);
  void start_claim(bool preempt);
  void pump();

  Env& env_;
  ClientConfig config_;
  Checker& checker_;
  std::vector<ProtocolClient*>& registry_;
  client::StreamClient client_;
  absl::btree_map<uint64_t, uint64_t> checksums_;  // of the current writer's entries, by id
  protocol::Reader& reader_;
  uint64_t read_from_ = 1;
  uint64_t read_checksum_ = 0;  // of entry read_from_ - 1 (entry 0's is 0)
  uint64_t written_ = 0;
  int64_t next_claim_ns_ = 0;
  bool stopped_ = false;
};

}  // namespace walle::sim::protocol_workload
