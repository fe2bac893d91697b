#include "core/protocol/reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/protocol/request_ids.h"
#include "core/util/check.h"
#include "core/wire/codec.h"

namespace walle::protocol {

Reader::Reader(NetworkEnv& env, ReaderOptions options)
    : env_(env),
      options_(std::move(options)),
      next_member_(options_.members.empty() ? 0 : env.random.uniform(options_.members.size())),
      next_request_id_(first_request_id(options_.first_request_id, env.random)),
      timer_(env.clock) {
  WALLE_CHECK(!options_.members.empty());
}

absl::Status Reader::read(uint64_t from, int64_t wait_ns, Done done) {
  if (pending_) return absl::FailedPreconditionError("a read is in progress");
  pending_.emplace();
  pending_->from = from;
  pending_->wait_ns = std::max<int64_t>(0, wait_ns);
  pending_->done = std::move(done);
  ask();
  return absl::OkStatus();
}

void Reader::ask() {
  WALLE_CHECK(pending_.has_value());
  Pending& p = *pending_;
  p.member = options_.members[next_member_ % options_.members.size()];
  p.request_id = next_request_id_++;
  env_.transport.send(p.member,
                      wire::encode(ReadRequest{options_.stream, p.request_id, p.from, UINT64_MAX,
                                               options_.max_bytes, false, p.wait_ns}));
  const uint64_t id = p.request_id;
  timer_.start(p.wait_ns + options_.request_timeout_ns, [this, id] {
    if (pending_ && pending_->request_id == id) {
      next_member(absl::DeadlineExceededError(
          absl::StrCat("member ", pending_->member, " did not answer in time")));
    }
  });
}

void Reader::next_member(absl::Status why) {
  WALLE_CHECK(pending_.has_value() && !why.ok());
  Pending& p = *pending_;
  p.all_beyond_commit &= absl::IsOutOfRange(why);
  p.last_error = std::move(why);
  ++next_member_;
  if (++p.tries >= options_.members.size()) {
    // Every member said `from` is beyond its commit point: nothing new, not an error.
    if (p.all_beyond_commit) return finish(std::vector<Entry>());
    finish(absl::UnavailableError(
        absl::StrCat("no member of ", options_.stream,
                     " could serve the read; last: ", p.last_error.message())));
    return;
  }
  ask();
}

bool Reader::on_message(NodeId from, const ProtocolMessage& message) {
  const auto* reply = std::get_if<ReadReply>(&message);
  if (reply == nullptr || !pending_ || reply->request_id != pending_->request_id ||
      from != pending_->member) {
    return false;
  }
  timer_.cancel();
  const absl::Status status = reply->status.to_status();
  if (!status.ok()) {
    next_member(status);  // missing here (awaiting backfill), not open, too busy...
    return true;
  }
  // The reply must start at `from` and chain: a member never serves anything else.
  for (size_t i = 0; i < reply->entries.size(); ++i) {
    const Entry& e = reply->entries[i];
    const bool chains =
        i == 0 ? e.id == pending_->from
               : e.id == reply->entries[i - 1].id + 1 &&
                     e.checksum == chain_checksum(reply->entries[i - 1].checksum, e.data);
    if (!chains) {
      next_member(absl::DataLossError(
          absl::StrCat("member ", from, " sent entry ", e.id, " out of order or off the chain")));
      return true;
    }
  }
  // Nothing new there: ask another member next time, so a member that lags does not hold a
  // tailing reader back.
  if (reply->entries.empty()) ++next_member_;
  finish(reply->entries);
  return true;
}

void Reader::finish(absl::StatusOr<std::vector<Entry>> result) {
  WALLE_CHECK(pending_.has_value());
  Done done = std::move(pending_->done);
  pending_.reset();
  done(std::move(result));
}

void Reader::check_invariants() const {
  // A read in progress has a request out to one member, and a timer for it.
  WALLE_CHECK(pending_.has_value() == timer_.pending());
  if (!pending_) return;
  WALLE_CHECK(pending_->tries < options_.members.size());
  WALLE_CHECK(pending_->wait_ns >= 0);
  WALLE_CHECK(pending_->request_id < next_request_id_);
  WALLE_CHECK(std::find(options_.members.begin(), options_.members.end(), pending_->member) !=
              options_.members.end());
}

}  // namespace walle::protocol
