#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>

#include "core/env/node_id.h"

namespace walle::sim {

// What happened, for the trace digest and the readable trace.
enum class TraceKind : uint16_t {
  kSend = 1,
  kDeliver,
  kDrop,
  kDuplicate,
  kConnectionReset,
  kTimerFire,
  kDiskOp,
  kDiskFault,
  kCrash,
  kRestart,
  kPause,
  kResume,
  kWipe,
  kPartition,
  kHeal,
  kClog,
  kWorkload,
};

std::string_view trace_kind_name(TraceKind kind);

// Folds every simulation event, in order, into a 64-bit digest: two runs with the same digest
// took the same path. Optionally also prints a readable line per event (`walle-sim run
// --trace`), which costs formatting only when enabled.
class Trace {
 public:
  // Folds one event. `a` and `b` are event-specific values (sizes, peer ids, content hashes).
  void record(int64_t time_ns, NodeId node, TraceKind kind, uint64_t a = 0, uint64_t b = 0);

  // Sends readable lines to `sink` (nullptr: none). The sink must outlive the trace.
  void set_text_sink(FILE* sink) { text_sink_ = sink; }
  bool text_enabled() const { return text_sink_ != nullptr; }

  // A readable line; call only when text_enabled(), so that detail is formatted lazily.
  void text(int64_t time_ns, NodeId node, std::string_view line);

  uint64_t digest() const { return digest_; }
  uint64_t events() const { return events_; }

 private:
  uint64_t digest_ = 0x57a11e5eedULL;
  uint64_t events_ = 0;
  FILE* text_sink_ = nullptr;
};

// Hash of message bytes for the digest: their size and their first kContentHashBytes bytes.
// That prefix holds the headers and the first entry's chain checksum, which covers its data;
// a run that diverges further in (a later entry's bytes) diverges in what its receiver does
// next. Hashing all of a 4 KiB put cost 2% of the simulator's time.
inline constexpr size_t kContentHashBytes = 256;
uint64_t content_hash(std::string_view bytes);

}  // namespace walle::sim
