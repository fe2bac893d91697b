#include "core/client/status_probe.h"

#include <algorithm>
#include <utility>

#include "core/wire/codec.h"

namespace walle::client {

using protocol::ProtocolMessage;
using protocol::TailReply;
using protocol::TailRequest;
using protocol::WriterInfoReply;
using protocol::WriterInfoRequest;

StatusProbe::StatusProbe(NetworkEnv& env, std::string stream, std::vector<NodeId> members,
                         uint64_t first_request_id, int64_t timeout_ns, Done done)
    : env_(env),
      first_request_id_(first_request_id),
      timeout_ns_(timeout_ns),
      done_(std::move(done)),
      timer_(env.clock) {
  report_.stream = std::move(stream);
  for (NodeId m : members) {
    report_.members.emplace_back();
    report_.members.back().member = m;
  }
}

void StatusProbe::start() {
  for (size_t i = 0; i < report_.members.size(); ++i) {
    const NodeId m = report_.members[i].member;
    env_.transport.send(m, wire::encode(WriterInfoRequest{report_.stream, first_request_id_ + 2 * i}));
    env_.transport.send(m, wire::encode(TailRequest{report_.stream, first_request_id_ + 2 * i + 1}));
  }
  timer_.start(timeout_ns_, [this] { finish(); });
}

// The member a reply's id was sent to, if it came from that member and is the kind expected.
MemberReport* StatusProbe::member_for(NodeId from, uint64_t request_id, bool tail) {
  if (done() || request_id < first_request_id_) return nullptr;
  const uint64_t offset = request_id - first_request_id_;
  if (offset >= 2 * report_.members.size() || (offset % 2 == 1) != tail) return nullptr;
  MemberReport& m = report_.members[offset / 2];
  return m.member == from ? &m : nullptr;
}

bool StatusProbe::on_message(NodeId from, const ProtocolMessage& message) {
  if (const auto* info = std::get_if<WriterInfoReply>(&message)) {
    MemberReport* m = member_for(from, info->request_id, /*tail=*/false);
    if (m == nullptr || m->answered_info) return false;
    m->answered_info = true;
    m->status = info->status.to_status();
    m->writer = info->writer;
    m->lease_ns = info->lease_ns;
    m->remaining_lease_ns = info->remaining_lease_ns;
    m->committed_id = std::max(m->committed_id, info->committed_id);
  } else if (const auto* tail = std::get_if<TailReply>(&message)) {
    MemberReport* m = member_for(from, tail->request_id, /*tail=*/true);
    if (m == nullptr || m->answered_tail) return false;
    m->answered_tail = true;
    if (!tail->status.to_status().ok()) m->status = tail->status.to_status();
    if (!tail->heads.empty()) {
      m->committed_id = std::max(m->committed_id, tail->heads.front().id);
      m->tail_id = tail->heads.back().id;
    }
    m->damage = tail->damage;
  } else {
    return false;
  }
  finish_if_complete();
  return true;
}

void StatusProbe::finish_if_complete() {
  for (const MemberReport& m : report_.members) {
    if (!m.answered_info || !m.answered_tail) return;
  }
  finish();
}

void StatusProbe::finish() {
  if (done()) return;
  timer_.cancel();
  for (const MemberReport& m : report_.members) {
    if (!m.answered_info || !m.status.ok()) continue;
    report_.writer = std::max(report_.writer, m.writer);
    report_.committed_id = std::max(report_.committed_id, m.committed_id);
    report_.remaining_lease_ns = std::max(report_.remaining_lease_ns, m.remaining_lease_ns);
  }
  Done done = std::move(done_);
  done_ = nullptr;
  done(std::move(report_));
}

}  // namespace walle::client
