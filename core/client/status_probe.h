#pragma once

// StatusProbe: what each member of a stream says of it, for `wctl status` and the client
// library's Client::status(). Asks every member at once for its writer and lease (WriterInfo)
// and its commit point and tail (Tail); both are read-only on the member. Completes once
// every member answered both, or at the timeout with what came (a member that did not answer
// has kDeadlineExceeded).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "core/env/env.h"
#include "core/env/timer.h"
#include "core/protocol/messages.h"

namespace walle::client {

struct MemberReport {
  NodeId member = 0;
  absl::Status status = absl::DeadlineExceededError("no answer");
  WriterId writer;
  int64_t lease_ns = 0;
  int64_t remaining_lease_ns = 0;  // negative: expired that long ago
  uint64_t committed_id = 0;
  uint64_t tail_id = 0;
  storage::TailDamage damage = storage::TailDamage::kNone;
  bool answered_info = false;
  bool answered_tail = false;
};

struct StreamReport {
  std::string stream;
  std::vector<MemberReport> members;  // in the order of the members asked
  // The newest writer any member knows, and the largest commit point and lease left.
  WriterId writer;
  uint64_t committed_id = 0;
  int64_t remaining_lease_ns = 0;
};

class StatusProbe {
 public:
  using Done = absl::AnyInvocable<void(StreamReport)>;

  // Request ids first_request_id, first_request_id + 1, ... (two per member).
  StatusProbe(NetworkEnv& env, std::string stream, std::vector<NodeId> members,
              uint64_t first_request_id, int64_t timeout_ns, Done done);
  StatusProbe(const StatusProbe&) = delete;
  StatusProbe& operator=(const StatusProbe&) = delete;

  void start();
  // Takes a reply meant for this probe; returns false if it is not one.
  bool on_message(NodeId from, const protocol::ProtocolMessage& message);
  bool done() const { return done_ == nullptr; }

 private:
  MemberReport* member_for(NodeId from, uint64_t request_id, bool tail);
  void finish_if_complete();
  void finish();

  NetworkEnv& env_;
  StreamReport report_;
  uint64_t first_request_id_;
  int64_t timeout_ns_;
  Done done_;
  Timer timer_;
};

}  // namespace walle::client
