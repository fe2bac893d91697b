#include "runtime/client/client_core.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/link/handshake.h"
#include "core/storage/entry.h"
#include "core/util/check.h"
#include "core/wire/codec.h"
#include "runtime/data_dir.h"

namespace walle::client_internal {

namespace {

// How long close() waits for puts still in flight before failing them (a cluster that is down
// never commits them).
constexpr int64_t kCloseGraceNs = 5 * kNanosPerSecond;
// A tail whose read failed tries again this much later.
constexpr int64_t kTailRetryNs = 100 * kNanosPerMilli;
// A tail's reads wait this long for new entries on a member before asking again.
constexpr int64_t kTailWaitNs = kNanosPerSecond;

}  // namespace

absl::StatusOr<std::unique_ptr<ClientCore>> ClientCore::create(ClientOptions options) {
  absl::StatusOr<runtime::ClusterFile> cluster = runtime::read_cluster_file(options.cluster_file);
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::string> secret = runtime::read_secret_file(options.secret_file);
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::unique_ptr<runtime::EventLoop>> loop = runtime::EventLoop::create();
  if (!loop.ok()) return loop.status();

  std::unique_ptr<ClientCore> c(new ClientCore());
  c->options_ = std::move(options);
  c->cluster_ = std::move(*cluster);
  c->members_ = c->cluster_.server_ids();
  c->loop_ = std::move(*loop);
  net::TcpOptions tcp;
  const NodeId self = static_cast<NodeId>(link::kFirstClientId + c->random_.uniform(1u << 30));
  tcp.self = self;
  tcp.role = link::Role::kClient;
  tcp.cluster_id = c->cluster_.cluster_id;
  tcp.secret = std::move(*secret);
  tcp.servers = c->cluster_.servers;
  std::function<void(const std::string&)> log = c->options_.log;
  absl::StatusOr<std::unique_ptr<net::TcpTransport>> transport = net::TcpTransport::create(
      *c->loop_, *c->loop_, c->random_, std::move(tcp),
      [log](net::LogLevel level, std::string_view line) {
        if (log && level >= net::LogLevel::kWarning) log(std::string(line));
      });
  if (!transport.ok()) return transport.status();
  c->transport_ = std::move(*transport);
  c->env_ = std::make_unique<NetworkEnv>(
      NetworkEnv{self, *c->loop_, *c->transport_, c->random_});
  c->client_ = std::make_unique<client::StreamClient>(*c->env_);
  c->transport_->set_node(c.get());
  c->transport_->start();
  ClientCore* core = c.get();
  c->io_thread_ = std::thread([core] { (void)core->loop_->run(); });
  return c;
}

ClientCore::~ClientCore() {
  call([this] {
    for (auto& [stream, w] : writers_) {
      if (w->writer != nullptr) {
        client_->drop_writer(stream, absl::CancelledError("the client was destroyed"));
        w->writer = nullptr;
      }
      fail_queued(*w, absl::CancelledError("the client was destroyed"));
    }
    client_.reset();
    transport_->shutdown();
  });
  loop_->stop();
  io_thread_.join();
}

absl::Status ClientCore::check_stream(const std::string& stream) const {
  if (std::find(cluster_.streams.begin(), cluster_.streams.end(), stream) !=
      cluster_.streams.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("stream '", stream,
                                                 "' is not in the cluster file ",
                                                 options_.cluster_file));
}

void ClientCore::claim(const std::string& stream, const ClaimOptions& options,
                       int64_t deadline_ns, ClaimDone done) {
  const int64_t lease_ns = std::chrono::nanoseconds(options.lease).count();
  protocol::ClaimOptions claiming{stream, members_, lease_ns};
  claiming.preempt = options.preempt;
  protocol::WriterOptions writer;
  writer.lease_ns = lease_ns;
  writer.max_in_flight_entries = options.max_in_flight_entries;
  writer.max_in_flight_bytes = options.max_in_flight_bytes;
  const absl::Status started = client_->claim(
      std::move(claiming), std::move(writer),
      [this, stream, options, deadline_ns, lease_ns,
       done](absl::StatusOr<client::Claimed> claimed) mutable {
        if (!claimed.ok()) {
          const int64_t now = loop_->now_ns();
          if (claimed.status().code() == absl::StatusCode::kUnavailable && now < deadline_ns) {
            // Wait-and-claim: another writer's lease is live (or no majority answered).
            const int64_t backoff = std::min(
                deadline_ns - now, random_.uniform_between(lease_ns / 2, lease_ns));
            loop_->start_timer(backoff, [this, stream, options, deadline_ns, done] {
              this->claim(stream, options, deadline_ns, done);
            });
            return;
          }
          return done(claimed.status());
        }
        auto state = std::make_shared<WriterState>(stream, 2 * options.max_in_flight_entries);
        state->writer = claimed->writer;
        if (auto old = writers_.find(stream); old != writers_.end()) {
          // The StreamClient closed and dropped the writer this claim replaces.
          old->second->writer = nullptr;
          fail_queued(*old->second, absl::AbortedError("a newer claim of this client replaced it"));
        }
        writers_[stream] = state;
        done(std::move(state));
      });
  if (!started.ok()) done(started);
}

void ClientCore::resolve(WriterState& w, PutDone& done, absl::StatusOr<uint64_t> result) {
  if (!result.ok() && w.first_failure.ok()) w.first_failure = result.status();
  if (result.ok()) w.last_committed = std::max(w.last_committed, *result);
  PutDone call = std::move(done);
  call(std::move(result));
  {
    std::lock_guard<std::mutex> lock(w.mu);
    --w.outstanding;
  }
  w.room.notify_all();
}

void ClientCore::fail_queued(WriterState& w, const absl::Status& why) {
  {
    std::lock_guard<std::mutex> lock(w.mu);
    if (w.status.ok()) w.status = why;
  }
  w.room.notify_all();
  std::deque<WriterState::Queued> failed = std::move(w.queue);
  w.queue.clear();
  for (WriterState::Queued& q : failed) resolve(w, q.done, why);
  settle_if_done(w);
}

void ClientCore::pump(WriterState& w) {
  if (w.writer == nullptr) return fail_queued(w, absl::CancelledError("the writer is closed"));
  if (w.writer->closed()) return fail_queued(w, w.writer->close_reason());
  while (!w.queue.empty()) {
    WriterState::Queued& q = w.queue.front();
    if (!w.writer->has_room_for(q.data.size())) {
      if (w.writer->in_flight() > 0) break;  // a commit makes room, and pumps again
      PutDone done = std::move(q.done);
      const size_t bytes = q.data.size();
      w.queue.pop_front();
      resolve(w, done, absl::InvalidArgumentError(absl::StrCat(
                           "an entry of ", bytes, " bytes is over the writer's in-flight budget")));
      continue;
    }
    PutDone done = std::move(q.done);
    std::string data = std::move(q.data);
    w.queue.pop_front();
    const uint64_t id = w.writer->tail_id() + 1;
    auto owner = writers_.at(w.stream);
    absl::StatusOr<uint64_t> accepted = w.writer->put(
        std::move(data), [this, owner, id, done](absl::Status s) mutable {
          resolve(*owner, done, s.ok() ? absl::StatusOr<uint64_t>(id) : s);
          settle_if_done(*owner);
        });
    if (!accepted.ok()) {
      resolve(w, done, accepted.status());  // too big, or the writer just closed
      continue;
    }
    WALLE_CHECK(*accepted == id);
  }
  settle_if_done(w);
}

void ClientCore::settle_if_done(WriterState& w) {
  if (!w.on_settled) return;
  {
    std::lock_guard<std::mutex> lock(w.mu);
    if (w.outstanding > 0) return;
  }
  // Nothing outstanding; let the members hear the last commit point before going, so readers
  // see the last entries at once (a later heartbeat round does it, or the grace timer gives up).
  if (w.writer != nullptr && !w.writer->closed() && !w.writer->idle()) return;
  std::function<void()> settled = std::move(w.on_settled);
  w.on_settled = nullptr;
  settled();
}

void ClientCore::close_writer(std::shared_ptr<WriterState> w,
                              std::function<void(absl::Status)> done) {
  // A writer fenced before close() reports it: what it wrote may be all, or it may not.
  if (w->writer != nullptr && w->writer->closed()) pump(*w);
  absl::Status before;
  {
    std::lock_guard<std::mutex> lock(w->mu);
    before = w->status;
    if (w->status.ok()) w->status = absl::CancelledError("the writer is closed");
  }
  w->room.notify_all();
  w->on_settled = [this, w, done, before] {
    if (w->writer != nullptr) {
      client_->drop_writer(w->stream, absl::CancelledError("the writer was closed first"));
      w->writer = nullptr;
    }
    auto it = writers_.find(w->stream);
    if (it != writers_.end() && it->second == w) writers_.erase(it);
    done(!w->first_failure.ok() ? w->first_failure : before);
  };
  loop_->start_timer(kCloseGraceNs, [this, w] {
    if (!w->on_settled) return;
    if (w->writer != nullptr) {
      // Puts the cluster never committed in time: they fail, and with the last one the
      // writer settles.
      client_->drop_writer(w->stream, absl::CancelledError("closed before it was committed"));
      w->writer = nullptr;
    }
    settle_if_done(*w);
  });
  settle_if_done(*w);
}

void ClientCore::open_reader(ReaderState& r) {
  r.reader = &client_->open_reader(protocol::ReaderOptions{r.stream, members_});
}

void ClientCore::close_reader(ReaderState& r) {
  if (r.reader == nullptr) return;
  client_->close_reader(*r.reader);
  r.reader = nullptr;
}

void ClientCore::read(std::shared_ptr<ReaderState> r, int64_t wait_ns,
                      std::function<void(absl::StatusOr<std::vector<CommittedEntry>>)> done) {
  if (r->reader == nullptr) return done(absl::CancelledError("the reader is closed"));
  uint64_t from = 0;
  {
    std::lock_guard<std::mutex> lock(r->mu);
    from = r->next_id;
  }
  const absl::Status started = r->reader->read(
      from, wait_ns, [r, done](absl::StatusOr<std::vector<Entry>> entries) {
        if (!entries.ok()) return done(entries.status());
        std::vector<CommittedEntry> out;
        out.reserve(entries->size());
        {
          std::lock_guard<std::mutex> lock(r->mu);
          for (Entry& e : *entries) {
            // The core reader checks a reply's own chain; this checks it joins the last one.
            if (e.id != r->next_id ||
                (r->chained && e.checksum != chain_checksum(r->last_checksum, e.data))) {
              return done(absl::DataLossError(absl::StrCat(
                  "entry ", e.id, " does not chain onto entry ", r->next_id - 1, " read before")));
            }
            r->last_checksum = e.checksum;
            r->chained = true;
            r->next_id = e.id + 1;
            out.push_back(CommittedEntry{e.id, e.checksum, std::move(e.data)});
          }
        }
        done(std::move(out));
      });
  if (!started.ok()) done(started);
}

void ClientCore::tail(std::shared_ptr<ReaderState> r) {
  read(r, kTailWaitNs, [this, r](absl::StatusOr<std::vector<CommittedEntry>> entries) {
    if (r->reader == nullptr) return;  // the subscription ended
    if (!entries.ok()) {
      if (r->on_error) r->on_error(entries.status());
      if (r->reader != nullptr) loop_->start_timer(kTailRetryNs, [this, r] { tail(r); });
      return;
    }
    if (!entries->empty()) r->on_entries(*entries);
    if (r->reader != nullptr) tail(r);
  });
}

namespace {

std::string writer_name(const WriterId& w) {
  return w == WriterId{} ? std::string() : absl::StrFormat("%d.%016x", w.ts, w.id);
}

std::chrono::milliseconds millis(int64_t ns) {
  return std::chrono::milliseconds(ns / kNanosPerMilli);
}

}  // namespace

void ClientCore::status(const std::string& stream, int64_t timeout_ns,
                        std::function<void(absl::StatusOr<StreamStatus>)> done) {
  client_->probe_status(stream, members_, timeout_ns, [done](client::StreamReport report) {
    StreamStatus out;
    out.stream = report.stream;
    out.writer = writer_name(report.writer);
    out.lease_left = millis(report.remaining_lease_ns);
    out.committed_id = report.committed_id;
    bool any = false;
    for (const client::MemberReport& m : report.members) {
      any = any || m.answered_info || m.answered_tail;
      out.members.push_back(MemberStatus{m.member, m.status, writer_name(m.writer),
                                         millis(m.remaining_lease_ns), m.committed_id, m.tail_id,
                                         storage::tail_damage_name(m.damage)});
    }
    if (!any) {
      return done(absl::UnavailableError(absl::StrCat(
          "no server answered for stream '", report.stream, "' in time: is the cluster up?")));
    }
    done(std::move(out));
  });
}

void ClientCore::receive(NodeId from, std::string_view bytes) {
  absl::StatusOr<protocol::ProtocolMessage> m = wire::decode<protocol::ProtocolMessage>(bytes);
  if (!m.ok()) return;
  if (client_->on_message(from, *m) != client::Routed::kWriter) return;
  // A commit makes room in that writer's pipeline; a fence closes it.
  const std::string& stream = std::visit([](const auto& msg) -> const std::string& {
    return msg.stream;
  }, *m);
  auto it = writers_.find(stream);
  if (it != writers_.end()) pump(*it->second);
}

}  // namespace walle::client_internal
