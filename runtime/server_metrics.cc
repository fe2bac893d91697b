#include "runtime/server_metrics.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "runtime/metrics_text.h"

namespace walle::runtime {
namespace {

using protocol::ReplicaCounters;
using protocol::StreamReplica;

double as_double(uint64_t v) { return static_cast<double>(v); }

// One per-stream family: a sample for each labeled stream the replica of which is open.
void per_stream(MetricsText& text, const std::vector<std::pair<std::string, StreamReplica*>>& open,
                std::string_view name, std::string_view type, std::string_view help,
                const std::function<double(const StreamReplica&)>& value) {
  text.family(name, type, help);
  for (const auto& [stream, replica] : open) {
    text.sample(name, {{"stream", stream}}, value(*replica));
  }
}

}  // namespace

std::string render_server_metrics(const MetricsSources& s) {
  MetricsText text;

  // Streams: which are served, and the replicas to label.
  std::vector<std::pair<std::string, StreamReplica*>> open;  // labeled and open
  ReplicaCounters total;
  uint64_t serving = 0;
  text.family("walle_stream_serving", "gauge",
              "1 if the stream's store is open and its replica serves, 0 if it failed to open "
              "(see the log for why)");
  for (size_t i = 0; i < s.streams.size(); ++i) {
    const std::string& name = s.streams[i];
    StreamReplica* replica = s.node.replica(name);
    if (replica != nullptr) {
      ++serving;
      const ReplicaCounters& c = replica->counters();
      total.puts_acked += c.puts_acked;
      total.put_bytes_acked += c.put_bytes_acked;
      total.reads_served += c.reads_served;
      total.entries_served += c.entries_served;
      total.claims_granted += c.claims_granted;
      for (size_t code = 0; code < ReplicaCounters::kCodes; ++code) {
        total.errors[code] += c.errors[code];
      }
    }
    if (i < kMaxLabeledStreams) {
      text.sample("walle_stream_serving", {{"stream", name}}, replica != nullptr ? 1 : 0);
      if (replica != nullptr) open.emplace_back(name, replica);
    }
  }
  text.family("walle_streams", "gauge", "streams in the cluster file, and how many are served");
  text.sample("walle_streams", {{"state", "configured"}}, as_double(s.streams.size()));
  text.sample("walle_streams", {{"state", "serving"}}, as_double(serving));

  // Server-wide totals.
  text.family("walle_puts_acked_total", "counter",
              "puts answered OK: durable on this server (all streams)");
  text.sample("walle_puts_acked_total", as_double(total.puts_acked));
  text.family("walle_put_bytes_acked_total", "counter", "payload bytes of those puts");
  text.sample("walle_put_bytes_acked_total", as_double(total.put_bytes_acked));
  text.family("walle_reads_total", "counter", "read requests answered OK (all streams)");
  text.sample("walle_reads_total", as_double(total.reads_served));
  text.family("walle_entries_read_total", "counter", "entries those answers carried");
  text.sample("walle_entries_read_total", as_double(total.entries_served));
  text.family("walle_claims_granted_total", "counter", "NewWriter requests answered OK");
  text.sample("walle_claims_granted_total", as_double(total.claims_granted));
  text.family("walle_request_errors_total", "counter",
              "puts, reads and claims answered with an error, by status code");
  for (size_t code = 0; code < ReplicaCounters::kCodes; ++code) {
    if (total.errors[code] == 0) continue;
    text.sample("walle_request_errors_total",
                {{"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}},
                as_double(total.errors[code]));
  }
  text.family("walle_malformed_messages_total", "counter",
              "messages that did not decode (their connection stays; the message is dropped)");
  text.sample("walle_malformed_messages_total", as_double(s.node.malformed_messages()));

  // Per stream.
  per_stream(text, open, "walle_stream_puts_acked_total", "counter", "puts answered OK",
             [](const StreamReplica& r) { return as_double(r.counters().puts_acked); });
  per_stream(text, open, "walle_stream_put_bytes_acked_total", "counter",
             "payload bytes of puts answered OK",
             [](const StreamReplica& r) { return as_double(r.counters().put_bytes_acked); });
  per_stream(text, open, "walle_stream_commit_id", "gauge",
             "the stream's commit point on this server (its rate: commits per second)",
             [](const StreamReplica& r) { return as_double(r.store().committed_id()); });
  per_stream(text, open, "walle_stream_tail_id", "gauge", "the newest entry this server holds",
             [](const StreamReplica& r) { return as_double(r.store().tail_id()); });
  per_stream(text, open, "walle_stream_lease_remaining_seconds", "gauge",
             "the current writer's lease left as this server measures it (negative: expired)",
             [](const StreamReplica& r) { return static_cast<double>(r.remaining_lease_ns()) / 1e9; });
  per_stream(text, open, "walle_stream_writer_ts", "gauge",
             "the timestamp part of the newest writer this server accepted (a change: a claim)",
             [](const StreamReplica& r) { return as_double(r.store().meta().writer.ts); });
  per_stream(text, open, "walle_stream_queued_puts", "gauge",
             "puts that arrived ahead of the tail and wait for their predecessors",
             [](const StreamReplica& r) { return as_double(r.queued_puts()); });
  per_stream(text, open, "walle_stream_waiting_reads", "gauge",
             "tailing reads parked until something commits",
             [](const StreamReplica& r) { return as_double(r.waiting_reads()); });
  per_stream(text, open, "walle_stream_missing_entries", "gauge",
             "committed entries this server lacks and backfill still has to fetch",
             [](const StreamReplica& r) { return as_double(r.store().missing().count()); });
  per_stream(text, open, "walle_stream_backfill_fetched_entries_total", "counter",
             "entries backfill fetched from other members",
             [](const StreamReplica& r) { return as_double(r.backfill().fetched_entries()); });
  text.family("walle_stream_request_errors_total", "counter",
              "a stream's puts, reads and claims answered with an error, by status code");
  for (const auto& [stream, replica] : open) {
    const ReplicaCounters& c = replica->counters();
    for (size_t code = 0; code < ReplicaCounters::kCodes; ++code) {
      if (c.errors[code] == 0) continue;
      text.sample("walle_stream_request_errors_total",
                  {{"stream", stream},
                   {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}},
                  as_double(c.errors[code]));
    }
  }

  // Disk.
  text.histogram("walle_fdatasync_duration_seconds",
                 "fdatasync syscalls of the log's files (its p99 is the number to watch)",
                 s.files.fdatasync_latency().snapshot());
  text.histogram("walle_sync_queue_seconds",
                 "how long a sync waited behind other disk operations before it ran",
                 s.files.sync_queue_latency().snapshot());
  const disk::PosixFileSystem::Stats disk = s.files.stats();
  text.family("walle_disk_syncs_total", "counter",
              "syncs asked for, and the fdatasyncs they needed (fewer: coalesced)");
  text.sample("walle_disk_syncs_total", {{"kind", "asked"}}, as_double(disk.syncs));
  text.sample("walle_disk_syncs_total", {{"kind", "fdatasync"}}, as_double(disk.fdatasyncs));
  text.family("walle_disk_operations_total", "counter",
              "file and directory operations executed (writes, reads, syncs, renames...)");
  text.sample("walle_disk_operations_total", as_double(disk.operations));
  text.family("walle_open_files", "gauge",
              "data files' descriptors open now (at most --max-open-files, plus removed files "
              "still in use)");
  text.sample("walle_open_files", as_double(disk.open_descriptors));
  text.family("walle_file_reopens_total", "counter",
              "descriptors reopened after the --max-open-files cap closed them (each closing "
              "synced the file first if it had unsynced writes)");
  text.sample("walle_file_reopens_total", as_double(disk.reopens));
  text.family("walle_disk_operations_in_flight", "gauge",
              "disk operations submitted and not completed (the I/O queue's depth)");
  text.sample("walle_disk_operations_in_flight", as_double(s.files.in_flight()));

  // Network.
  const net::TcpStats& n = s.transport.stats();
  text.family("walle_connections", "gauge", "connections with a completed handshake");
  text.sample("walle_connections", as_double(s.transport.connected_peers().size()));
  text.family("walle_connections_total", "counter", "connections accepted, and refused at accept");
  text.sample("walle_connections_total", {{"result", "accepted"}}, as_double(n.connections_accepted));
  text.sample("walle_connections_total", {{"result", "refused"}}, as_double(n.connections_refused));
  text.family("walle_handshakes_total", "counter",
              "handshakes completed, and failed (wrong cluster, secret or version; timeouts)");
  text.sample("walle_handshakes_total", {{"result", "ok"}}, as_double(n.handshakes_completed));
  text.sample("walle_handshakes_total", {{"result", "failed"}}, as_double(n.handshakes_failed));
  text.family("walle_frames_total", "counter", "frames sent and received");
  text.sample("walle_frames_total", {{"direction", "sent"}}, as_double(n.frames_sent));
  text.sample("walle_frames_total", {{"direction", "received"}}, as_double(n.frames_received));
  text.family("walle_connection_drops_total", "counter",
              "connections closed for a bad frame, or dropped at the send bound (a peer that "
              "does not read)");
  text.sample("walle_connection_drops_total", {{"reason", "bad_frame"}}, as_double(n.bad_frames));
  text.sample("walle_connection_drops_total", {{"reason", "send_bound"}},
              as_double(n.overflow_drops));
  text.family("walle_messages_dropped_total", "counter",
              "messages to a server with no connection and no room to wait for one");
  text.sample("walle_messages_dropped_total", as_double(n.messages_dropped));
  text.family("walle_send_queue_bytes", "gauge", "bytes queued on connections, not yet written");
  text.sample("walle_send_queue_bytes", as_double(s.transport.queued_bytes()));

  text.family("walle_metrics_scrapes_total", "counter", "scrapes of this endpoint, this one included");
  text.sample("walle_metrics_scrapes_total", as_double(s.scrapes));
  return text.take();
}

}  // namespace walle::runtime
