#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/env/env.h"
#include "core/env/node.h"

namespace walle::sim::counter {

// What a counter node tells the checker. Only the simulation implements it.
class CounterObserver {
 public:
  virtual ~CounterObserver() = default;
  // Recovery finished with `value`; `corruption_detected`: a record inside the log failed its
  // checksum or could not be read.
  virtual void on_recovered(NodeId node, uint64_t value, bool corruption_detected) = 0;
  virtual void on_attempt(NodeId node, uint64_t value) = 0;  // about to write `value`
  virtual void on_durable(NodeId node, uint64_t value) = 0;  // `value` is synced
  virtual void on_peer_value(NodeId node, NodeId peer, uint64_t value) = 0;
};

// The demo state machine: a durable counter per node, gossiped to peers.
//
// Every tick the node writes value+1 as a checksummed record at the end of its log; about
// every other write it also syncs, and only then counts the value and tells its peers. On start it recovers the highest valid record
// (a torn tail fails its checksum and is ignored; an unreadable record is skipped and
// reported), then compacts the log into a fresh file with the atomic-replace idiom (write
// temp, sync, rename, sync_dir). It exercises every part of the env: timers, transport,
// asynchronous file I/O and directory durability.
class CounterNode final : public Node {
 public:
  static constexpr const char* kLogName = "counter.log";
  static constexpr const char* kTempName = "counter.tmp";
  static constexpr uint64_t kRecordBytes = 16;  // value, XXH64(value)

  struct Options {
    uint32_t cluster_size = 3;
    int64_t tick_ns = 20 * kNanosPerMilli;
    // A planted bug, for proving that the checkers catch it: report a value as durable
    // without syncing it.
    bool bug_skip_sync = false;
  };

  CounterNode(Env& env, CounterObserver& observer, const Options& options);
  ~CounterNode() override;

  void start() override;
  void receive(NodeId from, std::string_view bytes) override;

  uint64_t durable_value() const { return durable_; }
  bool recovered() const { return recovered_; }
  uint64_t malformed_messages() const { return malformed_messages_; }

  static std::string encode_record(uint64_t value);

 private:
  void recover();
  void parse_log(const std::string& bytes);
  void read_records_one_by_one(uint64_t offset, uint64_t size, int attempt);
  void compact();
  void retry_recovery(const char* step, const absl::Status& status);
  void finish_recovery();
  void schedule_tick();
  void tick();
  void broadcast(uint64_t value);

  Env& env_;
  CounterObserver& observer_;
  Options options_;
  std::unique_ptr<File> log_;
  std::unique_ptr<File> temp_;
  bool recovered_ = false;
  bool writing_ = false;
  bool corruption_detected_ = false;
  uint64_t recovered_value_ = 0;
  uint64_t durable_ = 0;  // synced
  uint64_t written_ = 0;  // written, perhaps not yet synced
  uint64_t log_end_ = 0;
  uint64_t malformed_messages_ = 0;
  int recovery_attempts_ = 0;
  std::vector<uint64_t> peer_values_;
};

}  // namespace walle::sim::counter
