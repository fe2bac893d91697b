#pragma once

// TCP-like connections between simulated nodes, for NetworkConfig::byte_streams: messages
// travel as the production transport's frames (core/link/frame.h) after its handshake
// (core/link/handshake.h), over byte streams whose writes are cut at random points, arrive in
// order per direction, may be corrupted (a flipped bit: the frame checksum must catch it, and
// the connection is reset), and are lost with the connection when it resets. So a framing,
// handshake or backpressure bug fails a seed, as FoundationDB's simulated connections make
// it do. The next message after a reset opens a new connection, with a new handshake.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/env/node_id.h"
#include "core/link/frame.h"
#include "core/link/handshake.h"
#include "core/link/send_queue.h"
#include "sim/prng.h"

namespace walle::sim {

class Simulation;

struct ByteStreamConfig {
  uint32_t max_frame_bytes = 16u << 20;
  size_t max_buffered_bytes = 64u << 20;  // per direction, as TcpOptions::max_buffered_bytes
  size_t max_write_bytes = 4096;          // a write takes 1..this many bytes at a time
  double corrupt_write_probability = 0;   // a write arrives with one bit flipped
};

class ByteStreams {
 public:
  struct Hooks {
    std::function<int64_t(NodeId from, NodeId to)> latency;  // one write's time on the wire
    // Whether a write can arrive now (no partition, the receiver up); if not, the stream
    // breaks there.
    std::function<bool(NodeId from, NodeId to)> passable;
    // A whole message arrived (the network delivers it to the node).
    std::function<void(NodeId from, NodeId to, std::string payload)> deliver;
    // The stream broke (a corrupt frame, a full queue, a failed handshake): reset the
    // connection as a transport would close it (the network tells both ends).
    std::function<void(NodeId a, NodeId b)> reset;
  };

  ByteStreams(Simulation& sim, const ByteStreamConfig& config, Prng prng, Hooks hooks);

  // Frames `payload` onto the connection from -> to, opening it (and its handshake) if there
  // is none.
  void send(NodeId from, NodeId to, std::string_view payload);
  // Forgets the connection between a and b: bytes in flight and partial frames are lost.
  void reset(NodeId a, NodeId b);
  bool connected(NodeId a, NodeId b) const { return connections_.contains(key(a, b)); }

 private:
  struct Direction {
    explicit Direction(const ByteStreamConfig& c)
        : out(c.max_buffered_bytes), in(c.max_frame_bytes) {}
    link::SendQueue out;    // written, not yet on the wire
    link::FrameReader in;   // what the receiving end has read
    int64_t last_arrival_ns = 0;
  };
  struct End {
    std::optional<link::Handshake> handshake;
    std::deque<std::string> waiting;  // payloads sent before this end's handshake completed
  };
  struct Connection {
    explicit Connection(const ByteStreamConfig& c) : to_high(c), to_low(c) {}
    uint64_t id = 0;  // a fresh one per connection: writes of an older one are lost
    Direction to_high;  // low id -> high id
    Direction to_low;   // high id -> low id
    End low;
    End high;
  };

  static uint64_t key(NodeId a, NodeId b);
  Connection& open(NodeId from, NodeId to);
  Direction& direction(Connection& c, NodeId from, NodeId to);
  End& end(Connection& c, NodeId node, NodeId peer);
  // False if the queue was full and the connection reset (`c` is gone then).
  bool queue(Connection& c, NodeId from, NodeId to, std::string_view payload);
  void flush(Connection& c, NodeId from, NodeId to);
  void arrive(uint64_t connection_id, NodeId from, NodeId to, std::string bytes);
  void on_frame(Connection& c, NodeId from, NodeId to, std::string payload);

  Simulation& sim_;
  ByteStreamConfig config_;
  Prng prng_;
  Hooks hooks_;
  std::map<uint64_t, Connection> connections_;  // by key(a, b); ordered: deterministic
  uint64_t next_connection_id_ = 1;
};

}  // namespace walle::sim
