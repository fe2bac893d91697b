#pragma once

// The client library's engine (include/walle/client.h): the core StreamClient on an I/O thread
// of its own, over the runtime's event loop and TCP transport. The public classes are shells
// that hand work to it; all protocol state lives on the I/O thread, and what callers' threads
// touch (a writer's backpressure, a reader's position) is guarded by a mutex of its own.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/client/stream_client.h"
#include "core/env/node.h"
#include "net/tcp_transport.h"
#include "runtime/cluster_file.h"
#include "runtime/event_loop.h"
#include "runtime/system_random.h"
#include "walle/client.h"

namespace walle::client_internal {

using PutDone = std::function<void(absl::StatusOr<uint64_t>)>;

// One claimed stream's writer, as both sides see it.
struct WriterState {
  WriterState(std::string stream, size_t max_outstanding)
      : stream(std::move(stream)), max_outstanding(max_outstanding) {}
  const std::string stream;
  const size_t max_outstanding;  // put but not resolved: beyond it put() blocks

  std::mutex mu;  // guards the three below
  std::condition_variable room;
  size_t outstanding = 0;
  absl::Status status;  // OK while writable; then why not

  // I/O thread only.
  struct Queued {
    std::string data;
    PutDone done;
  };
  std::deque<Queued> queue;  // accepted from callers, not yet in the core writer's pipeline
  protocol::Writer* writer = nullptr;
  absl::Status first_failure;
  uint64_t last_committed = 0;  // by this writer's puts
  std::function<void()> on_settled;  // close(): runs once nothing is outstanding
  uint64_t committed_id() const {
    return writer != nullptr ? writer->committed_id() : last_committed;
  }
};

// One reader: the blocking form and the callback form share it.
struct ReaderState {
  ReaderState(std::string stream, uint64_t from) : stream(std::move(stream)), next_id(from) {}
  const std::string stream;
  // I/O thread only.
  protocol::Reader* reader = nullptr;  // nullptr once closed
  std::function<void(const std::vector<CommittedEntry>&)> on_entries;  // the callback form
  std::function<void(const absl::Status&)> on_error;
  // The position, checked across replies: each entry must chain onto the one before.
  std::mutex mu;  // guards the three below
  uint64_t next_id;
  uint64_t last_checksum = 0;
  bool chained = false;  // last_checksum is entry next_id - 1's
  std::deque<CommittedEntry> buffered;  // the blocking form's read-ahead
};

class ClientCore final : public Node {
 public:
  static absl::StatusOr<std::unique_ptr<ClientCore>> create(ClientOptions options);
  ~ClientCore() override;

  // Runs `fn` on the I/O thread and returns what it returned (at once when already there).
  template <typename F>
  std::invoke_result_t<F&> call(F fn) {
    if (on_io_thread()) return fn();
    std::packaged_task<std::invoke_result_t<F&>()> task(std::move(fn));
    auto result = task.get_future();
    loop_->post([&task] { task(); });
    return result.get();
  }
  void post(absl::AnyInvocable<void()> fn) { loop_->post(std::move(fn)); }
  bool on_io_thread() const { return std::this_thread::get_id() == io_thread_.get_id(); }
  int64_t now_ns() const { return loop_->now_ns(); }

  const runtime::ClusterFile& cluster() const { return cluster_; }
  absl::Status check_stream(const std::string& stream) const;

  // The rest runs on the I/O thread.
  using ClaimDone = std::function<void(absl::StatusOr<std::shared_ptr<WriterState>>)>;
  void claim(const std::string& stream, const ClaimOptions& options, int64_t deadline_ns,
             ClaimDone done);
  // Feeds queued puts into the core writer while its pipeline has room.
  void pump(WriterState& w);
  // Once every put has resolved (and the commit point was announced, or a lease passed),
  // drops the core writer and calls `done` with the first failure, if any.
  void close_writer(std::shared_ptr<WriterState> w, std::function<void(absl::Status)> done);
  void open_reader(ReaderState& r);
  void close_reader(ReaderState& r);
  // One read at the reader's position, waiting up to `wait_ns`; entries are checked to chain
  // and the position moves past them before `done` sees them.
  void read(std::shared_ptr<ReaderState> r, int64_t wait_ns,
            std::function<void(absl::StatusOr<std::vector<CommittedEntry>>)> done);
  // The callback form: reads, delivers, reads again, until the reader is closed.
  void tail(std::shared_ptr<ReaderState> r);

  void status(const std::string& stream, int64_t timeout_ns,
              std::function<void(absl::StatusOr<StreamStatus>)> done);

  // Node.
  void start() override {}
  void receive(NodeId from, std::string_view bytes) override;

 private:
  ClientCore() = default;
  void resolve(WriterState& w, PutDone& done, absl::StatusOr<uint64_t> result);
  void fail_queued(WriterState& w, const absl::Status& why);
  void settle_if_done(WriterState& w);

  ClientOptions options_;
  runtime::ClusterFile cluster_;
  std::vector<NodeId> members_;
  std::unique_ptr<runtime::EventLoop> loop_;
  runtime::SystemRandom random_;
  std::unique_ptr<net::TcpTransport> transport_;
  std::unique_ptr<NetworkEnv> env_;
  std::unique_ptr<client::StreamClient> client_;
  absl::flat_hash_map<std::string, std::shared_ptr<WriterState>> writers_;  // by stream
  std::thread io_thread_;
};

}  // namespace walle::client_internal
