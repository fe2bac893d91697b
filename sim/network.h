#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/env/node_id.h"
#include "core/env/transport.h"
#include <memory>

#include "sim/byte_streams.h"
#include "sim/config.h"
#include "sim/prng.h"

namespace walle::sim {

class Simulation;

// The simulated network between all nodes: per directed link latency, FIFO order (unless the
// reorder fault fires), drops, duplicates, partitions (symmetric or one-way), clogging and
// connection resets. Bytes are carried exactly as sent; decoding happens at the receiver, as
// on a real wire.
class Network {
 public:
  Network(Simulation& sim, const NetworkConfig& config, uint32_t node_count, Prng prng);

  void send(NodeId from, NodeId to, std::string bytes);

  // Faults. A message is lost if its link is blocked when it is sent or when it arrives
  // (healing before it arrives lets it through, like a route that flapped).
  void partition(NodeId a, NodeId b);  // both directions
  void block(NodeId from, NodeId to);  // one direction only
  void isolate(NodeId node);           // from every other node
  void heal(NodeId a, NodeId b);       // both directions
  void heal_all();
  // Holds every message to or from `node` until `until_ns` (a stalled NIC or a full buffer).
  void clog(NodeId node, int64_t until_ns);
  // Breaks the connection between a and b: messages in flight are lost and both ends are told.
  void reset(NodeId a, NodeId b);
  // Breaks every connection of `node` (used when it crashes).
  void reset_all(NodeId node);

  bool blocked(NodeId from, NodeId to) const { return link(from, to).blocked; }
  NetworkConfig& config() { return config_; }

 private:
  static constexpr int64_t kLoopbackNs = kNanosPerMicro;
  struct Link {
    bool blocked = false;
    uint64_t epoch = 0;  // bumped by a reset; older messages are lost
    int64_t last_arrival_ns = 0;
  };
  Link& link(NodeId from, NodeId to) { return links_[from * node_count_ + to]; }
  const Link& link(NodeId from, NodeId to) const { return links_[from * node_count_ + to]; }
  int64_t sample_latency_ns();
  // `hash`: the bytes' content_hash, for the trace.
  void schedule_delivery(NodeId from, NodeId to, int64_t at_ns, std::string bytes, uint64_t hash);
  void deliver(NodeId from, NodeId to, uint64_t epoch, std::string bytes, uint64_t hash);
  // A message handed to the node (after a link or a byte stream carried it).
  void hand_over(NodeId from, NodeId to, std::string bytes, uint64_t hash);

  Simulation& sim_;
  NetworkConfig config_;
  uint32_t node_count_;
  Prng prng_;
  std::vector<Link> links_;
  std::vector<int64_t> clogged_until_ns_;
  std::unique_ptr<ByteStreams> streams_;  // when config_.byte_streams
};

// A node's Transport: stamps the sender and hands the bytes to the Network.
class SimTransport final : public Transport {
 public:
  SimTransport(Network& network, NodeId self) : network_(network), self_(self) {}
  void send(NodeId to, std::string bytes) override { network_.send(self_, to, std::move(bytes)); }

 private:
  Network& network_;
  NodeId self_;
};

}  // namespace walle::sim
