#include "sim/network.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "sim/node_host.h"
#include "sim/simulation.h"

namespace walle::sim {

Network::Network(Simulation& sim, const NetworkConfig& config, uint32_t node_count, Prng prng)
    : sim_(sim),
      config_(config),
      node_count_(node_count),
      prng_(prng),
      links_(static_cast<size_t>(node_count) * node_count),
      clogged_until_ns_(node_count, 0) {
  if (!config_.byte_streams) return;
  ByteStreamConfig streams;
  streams.corrupt_write_probability = config_.corrupt_write_probability;
  ByteStreams::Hooks hooks;
  hooks.latency = [this](NodeId from, NodeId to) {
    const int64_t arrival = sim_.now_ns() + sample_latency_ns();
    return std::max({arrival, clogged_until_ns_[from], clogged_until_ns_[to]}) - sim_.now_ns();
  };
  hooks.passable = [this](NodeId from, NodeId to) {
    return !link(from, to).blocked && sim_.host(to).up();
  };
  hooks.deliver = [this](NodeId from, NodeId to, std::string payload) {
    const uint64_t hash = content_hash(payload);
    hand_over(from, to, std::move(payload), hash);
  };
  hooks.reset = [this](NodeId a, NodeId b) { reset(a, b); };
  streams_ = std::make_unique<ByteStreams>(sim_, streams, prng_.fork(0xb57e), std::move(hooks));
}

int64_t Network::sample_latency_ns() {
  if (prng_.chance(config_.tail_latency_probability)) {
    return prng_.uniform_between(config_.latency_max_ns, config_.tail_latency_max_ns);
  }
  return prng_.uniform_between(config_.latency_min_ns, config_.latency_max_ns);
}

void Network::send(NodeId from, NodeId to, std::string bytes) {
  SimStats& stats = sim_.stats();
  Trace& trace = sim_.trace();
  const int64_t now = sim_.now_ns();
  ++stats.messages_sent;
  stats.bytes_sent += bytes.size();
  if (from >= node_count_ || to >= node_count_) {
    ++stats.dropped_partition;  // no such link
    return;
  }
  // Hashed once: the delivery records the same bytes (nothing alters them in flight).
  const uint64_t hash = content_hash(bytes);
  trace.record(now, from, TraceKind::kSend, to, hash);
  if (from == to) {
    // Loopback: a process's message to itself arrives after the current step, untouched by
    // network faults (it never leaves the machine), unless the process crashes first.
    schedule_delivery(from, to, now + kLoopbackNs, std::move(bytes), hash);
    return;
  }
  if (link(from, to).blocked) {
    ++stats.dropped_partition;
    trace.record(now, from, TraceKind::kDrop, to, 1);
    // A byte stream cannot skip a message: its connection breaks.
    if (streams_ != nullptr && streams_->connected(from, to)) reset(from, to);
    return;
  }
  if (streams_ != nullptr) return streams_->send(from, to, bytes);
  if (prng_.chance(config_.drop_probability)) {
    ++stats.dropped_random;
    trace.record(now, from, TraceKind::kDrop, to, 2);
    if (trace.text_enabled()) trace.text(now, from, absl::StrFormat("drop -> n%d (random)", to));
    return;
  }
  int64_t arrival = now + sample_latency_ns();
  const int64_t clog_end = std::max(clogged_until_ns_[from], clogged_until_ns_[to]);
  if (clog_end > arrival) {
    ++stats.clogged;
    arrival = clog_end;
  }
  if (prng_.chance(config_.duplicate_probability)) {
    ++stats.duplicated;
    trace.record(now, from, TraceKind::kDuplicate, to);
    schedule_delivery(from, to, arrival + sample_latency_ns(), bytes, hash);
  }
  Link& l = link(from, to);
  if (prng_.chance(config_.reorder_probability)) {
    ++stats.reordered;  // may overtake, or be overtaken by, its neighbours
  } else {
    arrival = std::max(arrival, l.last_arrival_ns);
    l.last_arrival_ns = arrival;
  }
  if (trace.text_enabled()) {
    trace.text(
        now, from,
        absl::StrFormat("send -> n%d %dB arrives +%dus", to, bytes.size(), (arrival - now) / 1000));
  }
  schedule_delivery(from, to, arrival, std::move(bytes), hash);
}

void Network::schedule_delivery(NodeId from, NodeId to, int64_t at_ns, std::string bytes,
                                uint64_t hash) {
  sim_.scheduler().schedule_at(
      at_ns, [this, from, to, epoch = link(from, to).epoch, bytes = std::move(bytes), hash]() mutable {
        deliver(from, to, epoch, std::move(bytes), hash);
      });
}

void Network::deliver(NodeId from, NodeId to, uint64_t epoch, std::string bytes, uint64_t hash) {
  SimStats& stats = sim_.stats();
  Trace& trace = sim_.trace();
  const int64_t now = sim_.now_ns();
  const Link& l = link(from, to);
  if (l.epoch != epoch) {
    ++stats.dropped_reset;
    trace.record(now, to, TraceKind::kDrop, from, 3);
    return;
  }
  if (l.blocked) {  // the partition began while the message was in flight
    ++stats.dropped_partition;
    trace.record(now, to, TraceKind::kDrop, from, 1);
    return;
  }
  hand_over(from, to, std::move(bytes), hash);
}

void Network::hand_over(NodeId from, NodeId to, std::string bytes, uint64_t hash) {
  NodeHost& host = sim_.host(to);
  if (!host.up()) {
    ++sim_.stats().dropped_node_down;
    sim_.trace().record(sim_.now_ns(), to, TraceKind::kDrop, from, 4);
    return;
  }
  // Delivered through the incarnation guard: held while the receiver is paused.
  host.post_at(sim_.now_ns(), [this, &host, from, bytes = std::move(bytes), hash] {
    ++sim_.stats().messages_delivered;
    sim_.trace().record(sim_.now_ns(), host.id(), TraceKind::kDeliver, from, hash);
    if (sim_.trace().text_enabled()) {
      sim_.trace().text(sim_.now_ns(), host.id(),
                        absl::StrFormat("deliver <- n%d %dB", from, bytes.size()));
    }
    host.node()->receive(from, bytes);
  });
}

void Network::partition(NodeId a, NodeId b) {
  block(a, b);
  block(b, a);
}

void Network::block(NodeId from, NodeId to) {
  if (from >= node_count_ || to >= node_count_ || from == to) return;
  Link& l = link(from, to);
  if (l.blocked) return;
  l.blocked = true;
  ++sim_.stats().partitions;
  sim_.trace().record(sim_.now_ns(), from, TraceKind::kPartition, to);
  if (sim_.trace().text_enabled()) {
    sim_.trace().text(sim_.now_ns(), from, absl::StrFormat("partition -> n%d", to));
  }
}

void Network::isolate(NodeId node) {
  for (NodeId other = 0; other < node_count_; ++other) partition(node, other);
}

void Network::heal(NodeId a, NodeId b) {
  if (a >= node_count_ || b >= node_count_ || a == b) return;
  link(a, b).blocked = false;
  link(b, a).blocked = false;
  sim_.trace().record(sim_.now_ns(), a, TraceKind::kHeal, b);
}

void Network::heal_all() {
  for (Link& l : links_) l.blocked = false;
  std::fill(clogged_until_ns_.begin(), clogged_until_ns_.end(), 0);
  sim_.trace().record(sim_.now_ns(), kInvalidNodeId, TraceKind::kHeal);
  if (sim_.trace().text_enabled()) sim_.trace().text(sim_.now_ns(), kInvalidNodeId, "heal all");
}

void Network::clog(NodeId node, int64_t until_ns) {
  if (node >= node_count_) return;
  clogged_until_ns_[node] = std::max(clogged_until_ns_[node], until_ns);
  sim_.trace().record(sim_.now_ns(), node, TraceKind::kClog, static_cast<uint64_t>(until_ns));
}

void Network::reset(NodeId a, NodeId b) {
  if (a >= node_count_ || b >= node_count_ || a == b) return;
  ++link(a, b).epoch;
  ++link(b, a).epoch;
  if (streams_ != nullptr) streams_->reset(a, b);
  ++sim_.stats().connection_resets;
  sim_.trace().record(sim_.now_ns(), a, TraceKind::kConnectionReset, b);
  // Each end learns of the loss after a short detection delay.
  for (const std::pair<NodeId, NodeId>& ends : {std::pair{a, b}, std::pair{b, a}}) {
    NodeHost& host = sim_.host(ends.first);
    if (!host.up()) continue;
    host.post_at(sim_.now_ns() + sample_latency_ns(),
                 [&host, peer = ends.second] { host.node()->connection_lost(peer); });
  }
}

void Network::reset_all(NodeId node) {
  for (NodeId other = 0; other < node_count_; ++other) {
    if (other != node) reset(node, other);
  }
}

}  // namespace walle::sim
