#include "sim/byte_streams.h"

#include <algorithm>
#include <vector>

#include "core/util/check.h"
#include "sim/simulation.h"

namespace walle::sim {
namespace {

// Every simulated node is a server of one cluster holding one secret: the handshake runs in
// full (hellos, proofs over fresh nonces), and a failure can only come from damaged bytes.
constexpr char kClusterId[] = "sim";
constexpr char kSecret[] = "simulated cluster secret";

}  // namespace

ByteStreams::ByteStreams(Simulation& sim, const ByteStreamConfig& config, Prng prng, Hooks hooks)
    : sim_(sim), config_(config), prng_(std::move(prng)), hooks_(std::move(hooks)) {}

uint64_t ByteStreams::key(NodeId a, NodeId b) {
  const NodeId low = std::min(a, b);
  const NodeId high = std::max(a, b);
  return (static_cast<uint64_t>(low) << 32) | high;
}

ByteStreams::Direction& ByteStreams::direction(Connection& c, NodeId from, NodeId to) {
  return from < to ? c.to_high : c.to_low;
}

ByteStreams::End& ByteStreams::end(Connection& c, NodeId node, NodeId peer) {
  return node < peer ? c.low : c.high;
}

ByteStreams::Connection& ByteStreams::open(NodeId from, NodeId to) {
  auto [it, inserted] = connections_.try_emplace(key(from, to), config_);
  Connection& c = it->second;
  if (!inserted) return c;
  c.id = next_connection_id_++;
  ++sim_.stats().stream_connections;
  // Both ends speak first (as after a TCP connect): each sends its hello.
  for (const auto& [self, peer] : {std::pair{from, to}, std::pair{to, from}}) {
    link::HandshakeConfig hc;
    hc.cluster_id = kClusterId;
    hc.self = self;
    hc.role = link::Role::kServer;
    hc.secret = kSecret;
    hc.admit = [](NodeId, link::Role) { return absl::OkStatus(); };
    link::Nonce nonce;
    for (size_t i = 0; i < nonce.size(); i += 8) {
      const uint64_t bits = prng_.next_u64();
      for (size_t j = 0; j < 8; ++j) nonce[i + j] = static_cast<uint8_t>(bits >> (8 * j));
    }
    End& e = end(c, self, peer);
    e.handshake.emplace(std::move(hc), nonce);
    WALLE_CHECK(queue(c, self, peer, e.handshake->hello()));  // an empty queue has room
  }
  return c;
}

void ByteStreams::send(NodeId from, NodeId to, std::string_view payload) {
  Connection& c = open(from, to);
  End& e = end(c, from, to);
  if (!e.handshake->established()) {
    e.waiting.emplace_back(payload);
    return;
  }
  (void)queue(c, from, to, payload);
}

bool ByteStreams::queue(Connection& c, NodeId from, NodeId to, std::string_view payload) {
  Direction& d = direction(c, from, to);
  if (!d.out.push(payload)) {
    // The peer does not read fast enough: the transport drops the connection (and `c`).
    ++sim_.stats().stream_overflows;
    hooks_.reset(from, to);
    return false;
  }
  flush(c, from, to);
  return true;
}

void ByteStreams::flush(Connection& c, NodeId from, NodeId to) {
  Direction& d = direction(c, from, to);
  // Everything queued goes out now, cut into writes of random sizes, each arriving after the
  // one before it on this direction (a byte stream keeps its order).
  while (!d.out.empty()) {
    const size_t n = 1 + prng_.uniform(std::min(d.out.bytes(), config_.max_write_bytes));
    std::string write;
    write.reserve(n);
    for (std::string_view piece : d.out.pieces(16)) {
      write.append(piece.substr(0, n - write.size()));
      if (write.size() == n) break;
    }
    d.out.consume(write.size());
    if (prng_.chance(config_.corrupt_write_probability)) {
      const uint64_t bit = prng_.uniform(write.size() * 8);
      write[bit / 8] = static_cast<char>(write[bit / 8] ^ (1 << (bit % 8)));
      ++sim_.stats().stream_corrupted_writes;
    }
    ++sim_.stats().stream_writes;
    const int64_t arrival = std::max(sim_.now_ns() + hooks_.latency(from, to), d.last_arrival_ns);
    d.last_arrival_ns = arrival;
    sim_.scheduler().schedule_at(arrival, [this, id = c.id, from, to, write = std::move(write)]() mutable {
      arrive(id, from, to, std::move(write));
    });
  }
}

void ByteStreams::arrive(uint64_t connection_id, NodeId from, NodeId to, std::string bytes) {
  auto it = connections_.find(key(from, to));
  if (it == connections_.end() || it->second.id != connection_id) return;  // reset meanwhile
  if (!hooks_.passable(from, to)) return hooks_.reset(from, to);
  Connection& c = it->second;
  Direction& d = direction(c, from, to);
  d.in.feed(bytes);
  for (;;) {
    absl::StatusOr<std::optional<std::string>> frame = d.in.next();
    if (!frame.ok()) {
      // A damaged frame: the receiver closes the connection, nothing of it is delivered.
      ++sim_.stats().stream_bad_frames;
      return hooks_.reset(from, to);
    }
    if (!frame->has_value()) return;
    on_frame(c, from, to, std::move(**frame));
    // The frame may have reset the connection (a failed handshake).
    auto again = connections_.find(key(from, to));
    if (again == connections_.end() || again->second.id != connection_id) return;
  }
}

void ByteStreams::on_frame(Connection& c, NodeId from, NodeId to, std::string payload) {
  End& receiver = end(c, to, from);
  if (receiver.handshake->established()) return hooks_.deliver(from, to, std::move(payload));
  std::vector<std::string> answers;
  const absl::Status s = receiver.handshake->on_payload(payload, answers);
  for (const std::string& a : answers) {
    if (!queue(c, to, from, a)) return;
  }
  // Same cluster, same secret: only damaged bytes that still passed the frame checksum
  // could fail it, and those are as good as impossible.
  WALLE_CHECK_MSG(s.ok(), ("a simulated handshake failed: " + s.ToString()).c_str());
  if (!receiver.handshake->established()) return;
  ++sim_.stats().stream_handshakes;
  std::deque<std::string> waiting = std::move(receiver.waiting);
  for (const std::string& w : waiting) {
    if (!queue(c, to, from, w)) return;
  }
}

void ByteStreams::reset(NodeId a, NodeId b) { connections_.erase(key(a, b)); }

}  // namespace walle::sim
