#pragma once

// The WALLE client library (docs/client.md).
//
//   walle::ClientOptions options;
//   options.cluster_file = "cluster";  // the servers' cluster file
//   options.secret_file = "secret";
//   absl::StatusOr<std::unique_ptr<walle::Client>> client = walle::Client::connect(options);
//   absl::StatusOr<std::unique_ptr<walle::Writer>> writer = (*client)->claim("orders");
//   std::future<absl::StatusOr<uint64_t>> id = (*writer)->put("first entry");
//   // id.get(): the entry's id once a majority stored it durably (it is committed).
//   absl::StatusOr<std::unique_ptr<walle::Reader>> reader = (*client)->read("orders", 1);
//   absl::StatusOr<walle::CommittedEntry> entry = (*reader)->next(std::chrono::seconds(1));
//
// Threading: a Client runs its own I/O thread, so an application needs no event loop. Every
// method of Client, Writer and Reader may be called from any thread. Callbacks (the put and
// tail forms that take one) run on the I/O thread: keep them short and never block in them
// on another call of this library. A Writer, Reader or Subscription must be destroyed before
// its Client.
//
// Errors are absl::Status with the protocol's codes:
//   kUnavailable         no majority answered in time (servers down, partitioned), or, for a
//                        claim without preempt, another writer's lease is still live
//   kFailedPrecondition  a newer writer claimed the stream: this writer is fenced for good
//   kResourceExhausted   a server refused the request for its bounds; retry later
//   kInvalidArgument     a bad argument (an entry over the size limit, an unknown stream)
//   kDeadlineExceeded    a blocking call's timeout passed
//   kCancelled           the writer or client was closed before the operation finished

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace walle {

namespace client_internal {
class ClientCore;
struct WriterState;
struct ReaderState;
}  // namespace client_internal

struct ClientOptions {
  // The cluster file the servers use (servers, cluster id, streams) and the cluster secret.
  std::string cluster_file;
  std::string secret_file;
  // Connection problems are logged here (one line each); empty: not logged.
  std::function<void(const std::string&)> log;
};

struct ClaimOptions {
  // How long the writer's exclusivity lasts without a heartbeat reaching a majority.
  std::chrono::milliseconds lease{1000};
  // Take the stream from a writer whose lease is still live (a deliberate takeover). Without
  // it a live writer makes the claim wait (below) or fail with kUnavailable.
  bool preempt = false;
  // Wait-and-claim: while another writer holds a live lease, try again with backoff until
  // this much time has passed. Zero: fail at once.
  std::chrono::milliseconds wait{0};
  // The pipeline: entries (and their bytes) put but not committed yet. put() blocks while
  // twice this many are outstanding.
  size_t max_in_flight_entries = 128;
  uint64_t max_in_flight_bytes = 4 << 20;
};

// An entry as readers see it: committed, so it is in the stream for good.
struct CommittedEntry {
  uint64_t id = 0;
  uint64_t checksum = 0;  // chains this entry to the one before it
  std::string data;
};

// What one server says of a stream (Client::status()).
struct MemberStatus {
  uint32_t server = 0;
  absl::Status status;  // OK if it answered; kDeadlineExceeded if it did not in time
  std::string writer;   // the newest writer it accepted, "epoch.id" (id in hex); empty: none
  std::chrono::milliseconds lease_left{0};  // negative: expired that long ago
  uint64_t committed_id = 0;
  uint64_t tail_id = 0;  // its last entry, committed or not
  std::string damage;    // what its recovery may have lost: "none", "uncertain (torn or rot)"
                         // or "rot"
};

struct StreamStatus {
  std::string stream;
  std::string writer;  // the newest writer any server knows
  std::chrono::milliseconds lease_left{0};
  uint64_t committed_id = 0;  // the largest commit point any server knows
  std::vector<MemberStatus> members;  // in server-id order
};

// The exclusive writer of one stream, from Client::claim().
class Writer {
 public:
  ~Writer();  // close(), unless already closed
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends an entry. Many puts may be in flight; this blocks while the pipeline is full
  // (backpressure). The future holds the entry's id once it is committed, or why not.
  std::future<absl::StatusOr<uint64_t>> put(std::string data);
  // The same, calling `done` on the I/O thread instead.
  void put(std::string data, std::function<void(absl::StatusOr<uint64_t>)> done);

  // True while no other writer can have committed anything to the stream (under bounded clock
  // drift): what this writer has committed is the whole stream, so an application may serve
  // reads of it from memory, without asking the servers.
  bool lease_valid() const;
  // OK while this writer may write; once fenced or closed, why.
  absl::Status status() const;
  // The last entry committed by this writer's puts (or the stream's tail at the claim).
  uint64_t committed_id() const;
  const std::string& stream() const;

  // Waits until every put has resolved, then lets the stream go (heartbeats stop, the lease
  // runs out). OK if nothing failed and no newer writer fenced this one; else the first
  // failure (kFailedPrecondition for a fence).
  absl::Status close();

 private:
  friend class Client;
  Writer(client_internal::ClientCore* core, std::shared_ptr<client_internal::WriterState> state);
  client_internal::ClientCore* core_;
  std::shared_ptr<client_internal::WriterState> state_;
  bool closed_ = false;
  absl::Status close_result_;
};

// Committed entries of one stream, in order, from some id on: a blocking iterator.
class Reader {
 public:
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The next committed entry, waiting up to `timeout` for one to be committed:
  // kDeadlineExceeded if none was; kDataLoss if what the servers sent does not chain.
  absl::StatusOr<CommittedEntry> next(std::chrono::milliseconds timeout);
  // The id next() returns next.
  uint64_t next_id() const;

 private:
  friend class Client;
  Reader(client_internal::ClientCore* core, std::shared_ptr<client_internal::ReaderState> state);
  client_internal::ClientCore* core_;
  std::shared_ptr<client_internal::ReaderState> state_;
};

// A tail in callback form (Client::tail); destroying it stops the callbacks.
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  friend class Client;
  Subscription(client_internal::ClientCore* core, std::shared_ptr<client_internal::ReaderState> state);
  client_internal::ClientCore* core_;
  std::shared_ptr<client_internal::ReaderState> state_;
};

class Client {
 public:
  // Reads the cluster file and the secret, starts the I/O thread. Connections are made as
  // requests need them: an unreachable cluster shows as kUnavailable on the first request.
  static absl::StatusOr<std::unique_ptr<Client>> connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Makes this client the stream's exclusive writer.
  absl::StatusOr<std::unique_ptr<Writer>> claim(const std::string& stream,
                                                ClaimOptions options = {});
  // Reads the stream's committed entries from `from` on.
  absl::StatusOr<std::unique_ptr<Reader>> read(const std::string& stream, uint64_t from = 1);
  // Calls `on_entries` on the I/O thread with each batch of committed entries from `from` on,
  // in order, as they are committed, until the Subscription is destroyed. `on_error` (may be
  // empty) hears of a batch that failed; the tail goes on trying.
  absl::StatusOr<std::unique_ptr<Subscription>> tail(
      const std::string& stream, uint64_t from,
      std::function<void(const std::vector<CommittedEntry>&)> on_entries,
      std::function<void(const absl::Status&)> on_error = {});

  // What every server says of the stream, within `timeout`; kUnavailable if none answered.
  absl::StatusOr<StreamStatus> status(const std::string& stream,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  // The streams of the cluster file.
  const std::vector<std::string>& streams() const;

 private:
  explicit Client(std::unique_ptr<client_internal::ClientCore> core);
  std::unique_ptr<client_internal::ClientCore> core_;
};

}  // namespace walle
