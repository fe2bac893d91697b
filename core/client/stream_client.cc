#include "core/client/stream_client.h"

#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "core/protocol/request_ids.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::client {

using protocol::ClaimCoordinator;
using protocol::ClaimOptions;
using protocol::ClaimResult;
using protocol::ProtocolMessage;
using protocol::Reader;
using protocol::ReaderOptions;
using protocol::Writer;
using protocol::WriterOptions;

StreamClient::StreamClient(NetworkEnv& env) : env_(env), reap_timer_(env.clock) {}

// Each part's destructor cancels its own timers, and no part points at another.
StreamClient::~StreamClient() = default;

uint64_t StreamClient::take_range() {
  WALLE_CHECK(next_range_ < (uint64_t{1} << (64 - protocol::kRequestIdRangeBits)));
  return next_range_++;
}

absl::Status StreamClient::claim(ClaimOptions claim, WriterOptions writer, ClaimDone done) {
  Stream& s = streams_[claim.stream];
  if (s.claim != nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("a claim of stream '", claim.stream, "' is already in progress"));
  }
  const std::string stream = claim.stream;
  writer.stream = claim.stream;
  writer.members = claim.members;
  s.claim_range = take_range();
  claim.first_request_id = s.claim_range << protocol::kRequestIdRangeBits;
  s.claim = std::make_unique<ClaimCoordinator>(
      env_, std::move(claim),
      [this, stream, writer = std::move(writer), done = std::move(done)](
          absl::StatusOr<ClaimResult> result) mutable {
        on_claimed(stream, std::move(writer), std::move(result), done);
      });
  parts_[s.claim_range] = Part{Routed::kClaim, s.claim.get()};
  s.claim->start();
  return absl::OkStatus();
}

void StreamClient::on_claimed(const std::string& stream, WriterOptions writer,
                              absl::StatusOr<ClaimResult> result, ClaimDone& done) {
  Stream& s = streams_.at(stream);
  ClaimDone finish = std::move(done);  // `done` lives in the claim, which goes now
  retire_claim(s);
  if (!result.ok()) return finish(result.status());
  if (s.writer != nullptr) {
    s.writer->close(absl::AbortedError("a newer claim of this process replaced this writer"));
    retire_writer(s);
  }
  s.writer_range = take_range();
  writer.first_request_id = s.writer_range << protocol::kRequestIdRangeBits;
  s.writer = std::make_unique<Writer>(env_, std::move(writer), *result);
  parts_[s.writer_range] = Part{Routed::kWriter, nullptr, s.writer.get()};
  finish(Claimed{s.writer.get(), *result});
}

void StreamClient::cancel_claim(std::string_view stream) {
  auto it = streams_.find(absl::string_view(stream.data(), stream.size()));
  if (it != streams_.end() && it->second.claim != nullptr) retire_claim(it->second);
}

const ClaimCoordinator* StreamClient::claim_in_progress(std::string_view stream) const {
  auto it = streams_.find(absl::string_view(stream.data(), stream.size()));
  return it == streams_.end() ? nullptr : it->second.claim.get();
}

Writer* StreamClient::writer(std::string_view stream) const {
  auto it = streams_.find(absl::string_view(stream.data(), stream.size()));
  return it == streams_.end() ? nullptr : it->second.writer.get();
}

void StreamClient::drop_writer(std::string_view stream, absl::Status why) {
  auto it = streams_.find(absl::string_view(stream.data(), stream.size()));
  if (it == streams_.end() || it->second.writer == nullptr) return;
  it->second.writer->close(std::move(why));
  retire_writer(it->second);
}

Reader& StreamClient::open_reader(ReaderOptions options) {
  const uint64_t range = take_range();
  options.first_request_id = range << protocol::kRequestIdRangeBits;
  auto reader = std::make_unique<Reader>(env_, std::move(options));
  Reader& r = *reader;
  parts_[range] = Part{Routed::kReader, nullptr, nullptr, &r};
  readers_[&r] = {std::move(reader), range};
  return r;
}

void StreamClient::close_reader(Reader& reader) {
  auto it = readers_.find(&reader);
  WALLE_CHECK_MSG(it != readers_.end(), "close_reader: not a reader of this client");
  parts_.erase(it->second.second);
  retire(std::move(it->second.first));
  readers_.erase(it);
}

void StreamClient::probe_status(std::string stream, std::vector<NodeId> members,
                                int64_t timeout_ns, StatusProbe::Done done) {
  const uint64_t range = take_range();
  auto probe = std::make_unique<StatusProbe>(
      env_, std::move(stream), std::move(members), range << protocol::kRequestIdRangeBits,
      timeout_ns, [this, range, done = std::move(done)](StreamReport report) mutable {
        StatusProbe::Done finish = std::move(done);  // it lives in the probe, which goes now
        parts_.erase(range);
        auto it = probes_.find(range);
        retire(std::move(it->second));
        probes_.erase(it);
        finish(std::move(report));
      });
  StatusProbe& p = *probe;
  parts_[range] = Part{Routed::kStatus, nullptr, nullptr, nullptr, &p};
  probes_[range] = std::move(probe);
  p.start();
}

void StreamClient::retire_claim(Stream& s) {
  parts_.erase(s.claim_range);
  retire(std::move(s.claim));
}

void StreamClient::retire_writer(Stream& s) {
  parts_.erase(s.writer_range);
  retire(std::move(s.writer));
}

template <typename T>
void StreamClient::retire(std::unique_ptr<T> part) {
  if constexpr (std::is_same_v<T, ClaimCoordinator>) retired_claims_.push_back(std::move(part));
  if constexpr (std::is_same_v<T, Writer>) retired_writers_.push_back(std::move(part));
  if constexpr (std::is_same_v<T, Reader>) retired_readers_.push_back(std::move(part));
  if constexpr (std::is_same_v<T, StatusProbe>) retired_probes_.push_back(std::move(part));
  if (reap_timer_.pending()) return;
  reap_timer_.start(0, [this] {
    retired_claims_.clear();
    retired_writers_.clear();
    retired_readers_.clear();
    retired_probes_.clear();
  });
}

Routed StreamClient::receive(NodeId from, std::string_view bytes) {
  absl::StatusOr<ProtocolMessage> m = wire::decode<ProtocolMessage>(bytes);
  if (!m.ok()) return Routed::kNobody;
  return on_message(from, *m);
}

Routed StreamClient::on_message(NodeId from, const ProtocolMessage& message) {
  const uint64_t id = std::visit([](const auto& m) { return m.request_id; }, message);
  auto it = parts_.find(protocol::request_id_range(id));
  if (it == parts_.end()) return Routed::kNobody;
  const Part part = it->second;  // the part may retire itself while it handles the message
  bool taken = false;
  switch (part.kind) {
    case Routed::kClaim: taken = part.claim->on_message(from, message); break;
    case Routed::kWriter: taken = part.writer->on_message(from, message); break;
    case Routed::kReader: taken = part.reader->on_message(from, message); break;
    case Routed::kStatus: taken = part.probe->on_message(from, message); break;
    case Routed::kNobody: break;
  }
  return taken ? part.kind : Routed::kNobody;
}

void StreamClient::check_invariants() const {
  size_t live = readers_.size() + probes_.size();
  for (const auto& [name, s] : streams_) {
    if (s.claim != nullptr) {
      ++live;
      WALLE_CHECK(parts_.at(s.claim_range).claim == s.claim.get());
      s.claim->check_invariants();
    }
    if (s.writer != nullptr) {
      ++live;
      WALLE_CHECK(parts_.at(s.writer_range).writer == s.writer.get());
      s.writer->check_invariants();
    }
  }
  for (const auto& [reader, owned] : readers_) {
    WALLE_CHECK(parts_.at(owned.second).reader == reader);
    reader->check_invariants();
  }
  for (const auto& [range, probe] : probes_) WALLE_CHECK(parts_.at(range).probe == probe.get());
  // Every routed range belongs to a live part, each to one, and none was handed out twice.
  WALLE_CHECK(parts_.size() == live);
  for (const auto& [range, part] : parts_) WALLE_CHECK(range > 0 && range < next_range_);
}

}  // namespace walle::client
