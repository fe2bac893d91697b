#include "sim/workloads/counter_node.h"

#include <xxhash.h>

#include <cstring>
#include <optional>

#include "core/util/check.h"
#include "core/wire/codec.h"
#include "sim/workloads/counter_messages.h"

namespace walle::sim::counter {
namespace {

constexpr int kMaxRecoveryAttempts = 1000;
constexpr int kMaxReadAttempts = 20;

uint64_t record_checksum(uint64_t value) { return XXH64(&value, sizeof(value), 0xc0c0); }

// The value of the record at `bytes`, or nullopt if its checksum fails (torn or rotten).
std::optional<uint64_t> decode_record(std::string_view bytes) {
  WALLE_CHECK(bytes.size() == CounterNode::kRecordBytes);
  uint64_t value;
  uint64_t checksum;
  std::memcpy(&value, bytes.data(), 8);
  std::memcpy(&checksum, bytes.data() + 8, 8);
  if (checksum != record_checksum(value)) return std::nullopt;
  return value;
}

}  // namespace

std::string CounterNode::encode_record(uint64_t value) {
  const uint64_t checksum = record_checksum(value);
  std::string out(kRecordBytes, '\0');
  std::memcpy(out.data(), &value, 8);
  std::memcpy(out.data() + 8, &checksum, 8);
  return out;
}

CounterNode::CounterNode(Env& env, CounterObserver& observer, const Options& options)
    : env_(env), observer_(observer), options_(options), peer_values_(options.cluster_size, 0) {}

CounterNode::~CounterNode() = default;

void CounterNode::start() { recover(); }

void CounterNode::retry_recovery(const char* step, const absl::Status& status) {
  // Transient faults (EIO, ENOSPC) end when the nemesis heals; keep trying, but bounded.
  WALLE_CHECK_MSG(++recovery_attempts_ < kMaxRecoveryAttempts, step);
  env_.clock.start_timer(options_.tick_ns, [this] { recover(); });
}

void CounterNode::recover() {
  recovered_value_ = 0;
  corruption_detected_ = false;
  absl::StatusOr<std::unique_ptr<File>> log =
      env_.files.open(kLogName, OpenMode::kCreateIfMissing);
  WALLE_CHECK(log.ok());  // a valid name on a simulated disk cannot fail to open
  log_ = std::move(*log);
  const uint64_t size = log_->size();
  log_->read_at(0, size, [this, size](absl::StatusOr<std::string> bytes) {
    if (bytes.ok()) {
      parse_log(*bytes);
      compact();
    } else {
      // Some sector is unreadable: salvage what can be read, record by record.
      read_records_one_by_one(0, size, 0);
    }
  });
}

void CounterNode::parse_log(const std::string& bytes) {
  bool saw_bad_record = false;
  for (uint64_t offset = 0; offset + kRecordBytes <= bytes.size(); offset += kRecordBytes) {
    std::optional<uint64_t> value = decode_record(std::string_view(bytes).substr(offset, kRecordBytes));
    if (!value) {
      saw_bad_record = true;
      continue;
    }
    // A valid record after a bad one: the bad one was not a torn tail but corruption.
    if (saw_bad_record) corruption_detected_ = true;
    recovered_value_ = std::max(recovered_value_, *value);
  }
}

void CounterNode::read_records_one_by_one(uint64_t offset, uint64_t size, int attempt) {
  if (offset + kRecordBytes > size) {
    compact();
    return;
  }
  log_->read_at(offset, kRecordBytes, [this, offset, size, attempt](absl::StatusOr<std::string> bytes) {
    if (!bytes.ok() && attempt < kMaxReadAttempts) {
      // Transient errors pass on a retry; a latent sector error does not.
      read_records_one_by_one(offset, size, attempt + 1);
      return;
    }
    if (bytes.ok() && bytes->size() == kRecordBytes) {
      if (std::optional<uint64_t> value = decode_record(*bytes)) {
        recovered_value_ = std::max(recovered_value_, *value);
      }
    } else {
      corruption_detected_ = true;
    }
    read_records_one_by_one(offset + kRecordBytes, size, 0);
  });
}

void CounterNode::compact() {
  absl::StatusOr<std::unique_ptr<File>> temp = env_.files.open(kTempName, OpenMode::kCreateIfMissing);
  WALLE_CHECK(temp.ok());
  temp_ = std::move(*temp);
  temp_->truncate(0, [this](absl::Status s) {
    if (!s.ok()) return retry_recovery("truncate temp", s);
    temp_->write_at(0, encode_record(recovered_value_), [this](absl::Status s) {
      if (!s.ok()) return retry_recovery("write temp", s);
      temp_->sync([this](absl::Status s) {
        if (!s.ok()) return retry_recovery("sync temp", s);
        env_.files.rename(kTempName, kLogName, [this](absl::Status s) {
          if (!s.ok()) return retry_recovery("rename", s);
          env_.files.sync_dir([this](absl::Status s) {
            if (!s.ok()) return retry_recovery("sync_dir", s);
            finish_recovery();
          });
        });
      });
    });
  });
}

void CounterNode::finish_recovery() {
  // The temp inode now carries the log's name; keep writing through that handle.
  log_ = std::move(temp_);
  log_end_ = kRecordBytes;
  durable_ = recovered_value_;
  written_ = recovered_value_;
  recovered_ = true;
  observer_.on_recovered(env_.self, durable_, corruption_detected_);
  schedule_tick();
}

void CounterNode::schedule_tick() {
  // Jitter keeps nodes from ticking in lockstep.
  const int64_t delay = options_.tick_ns / 2 + static_cast<int64_t>(env_.random.uniform(options_.tick_ns));
  env_.clock.start_timer(delay, [this] { tick(); });
}

void CounterNode::tick() {
  schedule_tick();
  broadcast(durable_);  // gossip again: earlier updates may have been lost
  if (writing_) return;
  writing_ = true;
  const uint64_t next = written_ + 1;
  observer_.on_attempt(env_.self, next);
  log_->write_at(log_end_, encode_record(next), [this, next](absl::Status s) {
    if (!s.ok()) {
      writing_ = false;  // nothing was written (ENOSPC); retry on a later tick
      return;
    }
    log_end_ += kRecordBytes;
    written_ = next;
    // Sync only every other write or so (group commit, in miniature): a crash then finds
    // unsynced records, whole or torn, at the tail.
    if (!env_.random.chance(0.5)) {
      writing_ = false;
      return;
    }
    if (options_.bug_skip_sync) {
      writing_ = false;
      durable_ = next;
      observer_.on_durable(env_.self, next);
      broadcast(next);
      return;
    }
    log_->sync([this, next](absl::Status s) {
      writing_ = false;
      if (!s.ok()) return;
      durable_ = next;
      observer_.on_durable(env_.self, next);
      broadcast(next);
    });
  });
}

void CounterNode::broadcast(uint64_t value) {
  for (NodeId peer = 0; peer < options_.cluster_size; ++peer) {
    if (peer != env_.self) env_.transport.send(peer, wire::encode(CounterUpdate{value}));
  }
}

void CounterNode::receive(NodeId from, std::string_view bytes) {
  absl::StatusOr<CounterMessage> message = wire::decode<CounterMessage>(bytes);
  if (!message.ok() || from >= options_.cluster_size) {
    ++malformed_messages_;
    return;
  }
  if (const auto* update = std::get_if<CounterUpdate>(&*message)) {
    if (update->value > peer_values_[from]) {
      peer_values_[from] = update->value;
      observer_.on_peer_value(env_.self, from, update->value);
    }
    env_.transport.send(from, wire::encode(CounterAck{update->value}));
  }
  // Acks carry nothing the demo needs; they exist to load the network both ways.
}

}  // namespace walle::sim::counter
