#pragma once

// The stream protocol's wire messages (docs/protocol.md). Every request names its stream and
// carries a request id that its reply echoes, so a process can match replies to requests
// over a transport that may drop, duplicate and reorder.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "cereal/types/string.hpp"
#include "cereal/types/vector.hpp"
#include "core/storage/entry.h"
#include "core/storage/tail_damage.h"

namespace walle::protocol {

// A status on the wire: the protocol's codes (docs/protocol.md, "codes") and a message.
struct WireStatus {
  uint8_t code = 0;  // absl::StatusCode value; anything unknown decodes as kUnknown
  std::string message;

  static WireStatus from(const absl::Status& status);
  absl::Status to_status() const;

  friend bool operator==(const WireStatus&, const WireStatus&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(code, message);
  }
};

// Writer -> every member: store `entry` (id 0: a heartbeat carrying only the commit point) and
// advance the commit point to (committed_id, committed_checksum).
struct PutRequest {
  static constexpr uint16_t kWireType = 10;
  std::string stream;
  uint64_t request_id = 0;
  WriterId writer;
  uint64_t committed_id = 0;
  uint64_t committed_checksum = 0;
  Entry entry;
  // The writer's lease: a member that missed NewWriter adopts the writer from its put and
  // must protect that lease (found by the sweep: it inherited the previous writer's lease).
  int64_t lease_ns = 0;

  friend bool operator==(const PutRequest&, const PutRequest&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, writer, committed_id, committed_checksum, entry, lease_ns);
  }
};

// OK means: the entry is durable on this member.
struct PutReply {
  static constexpr uint16_t kWireType = 11;
  std::string stream;
  uint64_t request_id = 0;
  uint64_t entry_id = 0;
  WireStatus status;

  friend bool operator==(const PutReply&, const PutReply&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, entry_id, status);
  }
};

// Claimant -> every member: from now on refuse writers older than `writer`; answer once the
// previous writer's lease has run out here.
struct NewWriterRequest {
  static constexpr uint16_t kWireType = 12;
  std::string stream;
  uint64_t request_id = 0;
  WriterId writer;
  int64_t lease_ns = 0;

  friend bool operator==(const NewWriterRequest&, const NewWriterRequest&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, writer, lease_ns);
  }
};

struct NewWriterReply {
  static constexpr uint16_t kWireType = 13;
  std::string stream;
  uint64_t request_id = 0;
  WireStatus status;

  friend bool operator==(const NewWriterReply&, const NewWriterReply&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, status);
  }
};

struct WriterInfoRequest {
  static constexpr uint16_t kWireType = 14;
  std::string stream;
  uint64_t request_id = 0;

  friend bool operator==(const WriterInfoRequest&, const WriterInfoRequest&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id);
  }
};

struct WriterInfoReply {
  static constexpr uint16_t kWireType = 15;
  std::string stream;
  uint64_t request_id = 0;
  WireStatus status;
  WriterId writer;
  int64_t lease_ns = 0;
  int64_t remaining_lease_ns = 0;  // may be negative: expired that long ago
  uint64_t committed_id = 0;

  friend bool operator==(const WriterInfoReply&, const WriterInfoReply&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, status, writer, lease_ns, remaining_lease_ns, committed_id);
  }
};

// Claim: the member's committed entry and uncommitted entries, as heads only (id, checksum,
// writer): data is fetched only for the entries the claim must copy.
struct TailRequest {
  static constexpr uint16_t kWireType = 16;
  std::string stream;
  uint64_t request_id = 0;

  friend bool operator==(const TailRequest&, const TailRequest&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id);
  }
};

struct EntryHeadMessage {
  uint64_t id = 0;
  uint64_t checksum = 0;
  WriterId writer;
  bool known = true;  // false: the id is committed but missing here

  friend bool operator==(const EntryHeadMessage&, const EntryHeadMessage&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, checksum, writer, known);
  }
};

struct TailReply {
  static constexpr uint16_t kWireType = 17;
  std::string stream;
  uint64_t request_id = 0;
  WireStatus status;
  std::vector<EntryHeadMessage> heads;  // C, C+1, ..., T
  // The member's recovery may have lost state it acknowledged above its commit point: kRot
  // never counts toward a claim's quorum, kUncertain only once every member has answered
  // (docs/protocol.md, "Damaged members").
  storage::TailDamage damage = storage::TailDamage::kNone;

  friend bool operator==(const TailReply&, const TailReply&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    uint8_t byte = static_cast<uint8_t>(damage);
    ar(stream, request_id, status, heads, byte);
    if constexpr (Archive::is_loading::value) {
      // Strict, as for bools: one encoding per message (found by fuzz/link_fuzz.cc: 9 read as
      // kRot and went back out as 2).
      if (byte > static_cast<uint8_t>(storage::TailDamage::kRot)) {
        throw cereal::Exception("tail damage byte is " + std::to_string(byte));
      }
      damage = static_cast<storage::TailDamage>(byte);
    }
  }
};

// Entries [from, to) up to about max_bytes (at least one). Committed entries only, unless
// allow_uncommitted (claims). With wait_ns > 0 and nothing committed at `from` yet, the member
// waits up to that long for it (PollStream / a tailing read) and then answers, possibly with
// no entries. Reads never depend on a writer's lease: present data is served.
struct ReadRequest {
  static constexpr uint16_t kWireType = 18;
  std::string stream;
  uint64_t request_id = 0;
  uint64_t from = 0;
  uint64_t to = 0;  // exclusive
  uint64_t max_bytes = 0;
  bool allow_uncommitted = false;
  int64_t wait_ns = 0;

  friend bool operator==(const ReadRequest&, const ReadRequest&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, from, to, max_bytes, allow_uncommitted, wait_ns);
  }
};

struct ReadReply {
  static constexpr uint16_t kWireType = 19;
  std::string stream;
  uint64_t request_id = 0;
  WireStatus status;
  std::vector<Entry> entries;
  uint64_t committed_id = 0;  // the member's when it began the read

  friend bool operator==(const ReadReply&, const ReadReply&) = default;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(stream, request_id, status, entries, committed_id);
  }
};

using ProtocolMessage =
    std::variant<PutRequest, PutReply, NewWriterRequest, NewWriterReply, WriterInfoRequest,
                 WriterInfoReply, TailRequest, TailReply, ReadRequest, ReadReply>;

}  // namespace walle::protocol
