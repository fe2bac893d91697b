// The public client classes (include/walle/client.h): shells that hand work to the ClientCore
// on its I/O thread and wait for the answer where the call blocks.

#include "walle/client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

#include "core/util/check.h"
#include "runtime/client/client_core.h"

namespace walle {

using client_internal::ClientCore;
using client_internal::ReaderState;
using client_internal::WriterState;

namespace {

// Starts `start` on the I/O thread, handing it a completion, and waits for the completion's
// value. Never from the I/O thread itself: the wait would block the thread that completes it.
template <typename T, typename Start>
T await(ClientCore& core, Start start) {
  WALLE_CHECK_MSG(!core.on_io_thread(),
                  "a blocking walle call from a callback on the client's I/O thread");
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> result = promise->get_future();
  core.post([start = std::move(start), promise]() mutable {
    start([promise](T value) { promise->set_value(std::move(value)); });
  });
  return result.get();
}

int64_t nanos(std::chrono::milliseconds d) { return std::chrono::nanoseconds(d).count(); }

}  // namespace

// --- Client

absl::StatusOr<std::unique_ptr<Client>> Client::connect(ClientOptions options) {
  absl::StatusOr<std::unique_ptr<ClientCore>> core = ClientCore::create(std::move(options));
  if (!core.ok()) return core.status();
  return std::unique_ptr<Client>(new Client(std::move(*core)));
}

Client::Client(std::unique_ptr<ClientCore> core) : core_(std::move(core)) {}
Client::~Client() = default;

const std::vector<std::string>& Client::streams() const { return core_->cluster().streams; }

absl::StatusOr<std::unique_ptr<Writer>> Client::claim(const std::string& stream,
                                                      ClaimOptions options) {
  if (absl::Status known = core_->check_stream(stream); !known.ok()) return known;
  if (options.lease <= std::chrono::milliseconds(0) || options.max_in_flight_entries == 0 ||
      options.max_in_flight_bytes == 0) {
    return absl::InvalidArgumentError("claim: the lease and the in-flight budget must be positive");
  }
  using Claimed = absl::StatusOr<std::shared_ptr<WriterState>>;
  ClientCore& core = *core_;
  Claimed claimed = await<Claimed>(core, [&core, stream, options](auto done) {
    const int64_t deadline = core.now_ns() + nanos(options.wait);
    core.claim(stream, options, deadline, std::move(done));
  });
  if (!claimed.ok()) return claimed.status();
  return std::unique_ptr<Writer>(new Writer(core_.get(), std::move(*claimed)));
}

absl::StatusOr<std::unique_ptr<Reader>> Client::read(const std::string& stream, uint64_t from) {
  if (absl::Status known = core_->check_stream(stream); !known.ok()) return known;
  if (from == 0) return absl::InvalidArgumentError("read: entry ids start at 1");
  auto state = std::make_shared<ReaderState>(stream, from);
  core_->call([&] { core_->open_reader(*state); });
  return std::unique_ptr<Reader>(new Reader(core_.get(), std::move(state)));
}

absl::StatusOr<std::unique_ptr<Subscription>> Client::tail(
    const std::string& stream, uint64_t from,
    std::function<void(const std::vector<CommittedEntry>&)> on_entries,
    std::function<void(const absl::Status&)> on_error) {
  if (absl::Status known = core_->check_stream(stream); !known.ok()) return known;
  if (from == 0) return absl::InvalidArgumentError("tail: entry ids start at 1");
  if (!on_entries) return absl::InvalidArgumentError("tail: on_entries is empty");
  auto state = std::make_shared<ReaderState>(stream, from);
  state->on_entries = std::move(on_entries);
  state->on_error = std::move(on_error);
  core_->call([&] {
    core_->open_reader(*state);
    core_->tail(state);
  });
  return std::unique_ptr<Subscription>(new Subscription(core_.get(), std::move(state)));
}

absl::StatusOr<StreamStatus> Client::status(const std::string& stream,
                                            std::chrono::milliseconds timeout) {
  if (absl::Status known = core_->check_stream(stream); !known.ok()) return known;
  ClientCore& core = *core_;
  return await<absl::StatusOr<StreamStatus>>(core, [&core, stream, t = nanos(timeout)](auto done) {
    core.status(stream, t, std::move(done));
  });
}

// --- Writer

Writer::Writer(ClientCore* core, std::shared_ptr<WriterState> state)
    : core_(core), state_(std::move(state)) {}

Writer::~Writer() { (void)close(); }

const std::string& Writer::stream() const { return state_->stream; }

std::future<absl::StatusOr<uint64_t>> Writer::put(std::string data) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<uint64_t>>>();
  std::future<absl::StatusOr<uint64_t>> result = promise->get_future();
  put(std::move(data),
      [promise](absl::StatusOr<uint64_t> id) { promise->set_value(std::move(id)); });
  return result;
}

void Writer::put(std::string data, std::function<void(absl::StatusOr<uint64_t>)> done) {
  WriterState& w = *state_;
  absl::Status refused;
  {
    std::unique_lock<std::mutex> lock(w.mu);
    if (core_->on_io_thread()) {
      // From a callback: waiting for room would block the thread that makes it.
      if (w.status.ok() && w.outstanding >= w.max_outstanding) {
        refused = absl::ResourceExhaustedError("the writer's pipeline is full");
      }
    } else {
      w.room.wait(lock, [&w] { return w.outstanding < w.max_outstanding || !w.status.ok(); });
    }
    if (refused.ok()) refused = w.status;
    if (refused.ok()) ++w.outstanding;
  }
  if (!refused.ok()) {
    core_->post([done = std::move(done), refused] { done(refused); });
    return;
  }
  core_->post([core = core_, state = state_, data = std::move(data),
               done = std::move(done)]() mutable {
    state->queue.push_back(WriterState::Queued{std::move(data), std::move(done)});
    core->pump(*state);
  });
}

bool Writer::lease_valid() const {
  return core_->call([this] { return state_->writer != nullptr && state_->writer->lease_valid(); });
}

absl::Status Writer::status() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->status;
}

uint64_t Writer::committed_id() const {
  return core_->call([this] { return state_->committed_id(); });
}

absl::Status Writer::close() {
  if (closed_) return close_result_;
  closed_ = true;
  ClientCore& core = *core_;
  close_result_ = await<absl::Status>(
      core, [&core, state = state_](auto done) { core.close_writer(state, std::move(done)); });
  return close_result_;
}

// --- Reader

Reader::Reader(ClientCore* core, std::shared_ptr<ReaderState> state)
    : core_(core), state_(std::move(state)) {}

Reader::~Reader() {
  core_->call([this] { core_->close_reader(*state_); });
}

uint64_t Reader::next_id() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->buffered.empty() ? state_->next_id : state_->buffered.front().id;
}

absl::StatusOr<CommittedEntry> Reader::next(std::chrono::milliseconds timeout) {
  using Batch = absl::StatusOr<std::vector<CommittedEntry>>;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!state_->buffered.empty()) {
        CommittedEntry e = std::move(state_->buffered.front());
        state_->buffered.pop_front();
        return e;
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      return absl::DeadlineExceededError(
          absl::StrCat("no entry ", next_id(), " was committed within ", timeout.count(), " ms"));
    }
    ClientCore& core = *core_;
    Batch batch = await<Batch>(core, [&core, state = state_, wait = nanos(left)](auto done) {
      core.read(state, wait, std::move(done));
    });
    if (!batch.ok()) return batch.status();
    std::lock_guard<std::mutex> lock(state_->mu);
    for (CommittedEntry& e : *batch) state_->buffered.push_back(std::move(e));
  }
}

// --- Subscription

Subscription::Subscription(ClientCore* core, std::shared_ptr<ReaderState> state)
    : core_(core), state_(std::move(state)) {}

Subscription::~Subscription() {
  core_->call([this] { core_->close_reader(*state_); });
}

}  // namespace walle
