#pragma once

// MemberNode: a server process hosting replicas of a fixed set of streams (topology changes
// come later). It opens each stream's store at start, then routes requests by stream name;
// a request for a stream it does not serve gets kNotFound.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/env/env.h"
#include "core/env/node.h"
#include "core/protocol/messages.h"
#include "core/protocol/stream_replica.h"
#include "core/storage/stream_store.h"

namespace walle::protocol {

struct MemberOptions {
  std::vector<std::string> streams;
  // Every stream's members, this node included (the same for all streams until topology
  // changes exist); the others are the replicas' backfill peers.
  storage::StoreOptions store;
  ReplicaOptions replica;
  std::vector<NodeId> members;
};

class MemberNode final : public Node {
 public:
  MemberNode(Env& env, MemberOptions options);
  ~MemberNode() override;

  void start() override;
  void receive(NodeId from, std::string_view bytes) override;

  // The replica and store of `stream`, or nullptr (not served, or not open yet).
  StreamReplica* replica(const std::string& stream);
  storage::StreamStore* store(const std::string& stream);
  uint64_t malformed_messages() const { return malformed_messages_; }

 private:
  struct Hosted {
    std::unique_ptr<storage::StreamStore> store;
    std::unique_ptr<StreamReplica> replica;
  };
  void open_next(size_t index);
  void refuse(NodeId from, const ProtocolMessage& message, const absl::Status& status);

  Env& env_;
  MemberOptions options_;
  std::map<std::string, Hosted, std::less<>> hosted_;  // ordered: iteration is deterministic
  uint64_t malformed_messages_ = 0;
};

}  // namespace walle::protocol
