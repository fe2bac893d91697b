#pragma once

// StreamClient: the protocol side of one client process, single-threaded, over a NetworkEnv
// (a client has no files). The one piece of code that every client drives: the simulator's
// workloads, the tests, the e2e client and the public library (include/walle/client.h) are
// shells around it, as etcd's Node is a shell around its RawNode.
//
// It owns
//   - the request-id space: each claim, writer and reader gets a range of ids of its own
//     (core/protocol/request_ids.h), never given out again;
//   - reply routing: a member's reply goes to the part whose range its id is in, and only
//     there; replies to parts that are gone are dropped;
//   - the claim-to-writer handoff: a successful claim becomes the stream's Writer at once, in
//     the same step, so no heartbeat is missed between them;
//   - readers, any number per stream;
//   - teardown: a part dropped inside one of its own callbacks is destroyed after that
//     callback returns, and destroying the client cancels every timer of every part.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "core/env/env.h"
#include "core/client/status_probe.h"
#include "core/env/timer.h"
#include "core/protocol/claim.h"
#include "core/protocol/messages.h"
#include "core/protocol/reader.h"
#include "core/protocol/writer.h"

namespace walle::client {

// Which part a message went to.
enum class Routed { kNobody, kClaim, kWriter, kReader, kStatus };

struct Claimed {
  protocol::Writer* writer;  // owned by the StreamClient; valid until dropped or replaced
  protocol::ClaimResult result;
};

class StreamClient {
 public:
  using ClaimDone = absl::AnyInvocable<void(absl::StatusOr<Claimed>)>;

  explicit StreamClient(NetworkEnv& env);
  ~StreamClient();
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  // Claims `claim.stream`. On success the stream's writer is created with `writer` (its stream
  // and members are the claim's) and handed to `done`; a writer this client had for the stream
  // before is closed with kAborted and dropped. kFailedPrecondition if a claim of the stream is
  // already in progress. `done` runs once, unless the claim is cancelled first.
  absl::Status claim(protocol::ClaimOptions claim, protocol::WriterOptions writer,
                     ClaimDone done);
  // Stops the stream's claim in progress, if any; its `done` never runs.
  void cancel_claim(std::string_view stream);
  // The claim in progress for `stream`, or nullptr.
  const protocol::ClaimCoordinator* claim_in_progress(std::string_view stream) const;

  // The stream's writer, or nullptr.
  protocol::Writer* writer(std::string_view stream) const;
  // Closes the stream's writer with `why` (its pending puts fail with it) and drops it.
  void drop_writer(std::string_view stream, absl::Status why);

  // A new reader, owned by this client, valid until close_reader().
  protocol::Reader& open_reader(protocol::ReaderOptions options);
  // Drops `reader`; the callback of a read in progress never runs.
  void close_reader(protocol::Reader& reader);

  // Asks every member what it knows of `stream` (StatusProbe); `done` runs once, at the latest
  // after `timeout_ns`.
  void probe_status(std::string stream, std::vector<NodeId> members, int64_t timeout_ns,
                    StatusProbe::Done done);

  // A member's message, as received: decoded (malformed bytes reach nobody) and routed.
  Routed receive(NodeId from, std::string_view bytes);
  Routed on_message(NodeId from, const protocol::ProtocolMessage& message);

  // Every live part's invariants, and the routing table's against the parts; changes nothing.
  void check_invariants() const;

  size_t parts() const { return parts_.size(); }

 private:
  struct Part {
    Routed kind;
    protocol::ClaimCoordinator* claim = nullptr;
    protocol::Writer* writer = nullptr;
    protocol::Reader* reader = nullptr;
    StatusProbe* probe = nullptr;
  };
  struct Stream {
    std::unique_ptr<protocol::ClaimCoordinator> claim;
    uint64_t claim_range = 0;
    std::unique_ptr<protocol::Writer> writer;
    uint64_t writer_range = 0;
  };

  uint64_t take_range();
  void on_claimed(const std::string& stream, protocol::WriterOptions writer,
                  absl::StatusOr<protocol::ClaimResult> result, ClaimDone& done);
  void retire_claim(Stream& s);
  void retire_writer(Stream& s);
  // Destroyed after the current callback returns: a part may be dropped from inside its own.
  template <typename T>
  void retire(std::unique_ptr<T> part);

  NetworkEnv& env_;
  uint64_t next_range_ = 1;  // range 0 is never given out: id 0 means "no request"
  absl::flat_hash_map<uint64_t, Part> parts_;  // by request-id range
  absl::flat_hash_map<std::string, Stream> streams_;
  absl::flat_hash_map<const protocol::Reader*, std::pair<std::unique_ptr<protocol::Reader>, uint64_t>>
      readers_;  // with their ranges
  std::vector<std::unique_ptr<protocol::ClaimCoordinator>> retired_claims_;
  std::vector<std::unique_ptr<protocol::Writer>> retired_writers_;
  std::vector<std::unique_ptr<protocol::Reader>> retired_readers_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<StatusProbe>> probes_;  // by range
  std::vector<std::unique_ptr<StatusProbe>> retired_probes_;
  Timer reap_timer_;
};

}  // namespace walle::client
