// walle: one server of a WALLE cluster (docs/operations.md).

#include <cstdio>
#include <cstdlib>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "runtime/logger.h"
#include "runtime/server.h"

#ifndef WALLE_VERSION
#define WALLE_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  walle::runtime::ServerOptions options;
  uint32_t node_id = walle::kInvalidNodeId;
  std::string log_level = "info";
  CLI::App app{
      "walle: one server of a WALLE cluster, a replicated write-ahead log.\n"
      "Serves the streams of its cluster file from its data dir, to writers and readers\n"
      "that connect to it and to the other servers. SIGTERM or SIGINT stops it cleanly\n"
      "(in-flight syncs finish and are acknowledged); a second signal stops it at once.\n"
      "Every option can also come from a config file (--config, key = value lines).",
      "walle"};
  app.set_version_flag("--version", std::string("walle ") + WALLE_VERSION);
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.set_config("--config", "", "read options from this file (key = value, as the long flags)");
  app.add_option("--data-dir", options.data_dir,
                 "directory of this server's streams; created on first start, then bound to "
                 "this node and cluster (its IDENTITY file); locked while running")
      ->required();
  app.add_option("--node-id", node_id, "this server's id in the cluster file")->required()->default_str("");
  app.add_option("--cluster-file", options.cluster_file,
                 "the servers (id, address) and streams of the cluster; see docs/operations.md")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--secret-file", options.secret_file,
                 "the cluster secret that every server and client must hold (mode 600)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--listen", options.listen,
                 "HOST:PORT to listen on (default: this node's address in the cluster file)");
  app.add_option("--metrics-listen", options.metrics_listen,
                 "HOST:PORT to serve Prometheus metrics on, at /metrics (default: none)");
  app.add_option("--max-entry-bytes", options.max_entry_bytes, "largest entry accepted");
  app.add_option("--max-frame-bytes", options.max_frame_bytes, "largest message on a connection");
  app.add_option("--max-connections", options.max_connections,
                 "connections beyond this are refused");
  app.add_option("--max-buffered-bytes", options.max_buffered_bytes,
                 "replies queued for one connection before it is dropped (a peer that does not read)");
  app.add_option("--segment-bytes", options.segment_bytes, "preallocated size of a log segment");
  app.add_option("--max-open-files", options.max_open_files,
                 "data files' descriptors kept open at most; the least recently used is closed "
                 "(synced first) and reopened when needed. 0: what the open-file limit "
                 "(raised to its hard limit) leaves after --max-connections");
  app.add_option("--sync", options.sync,
                 "journal: all streams sync through one shared journal, one fdatasync per round "
                 "whatever the number of streams; per-stream: each stream fdatasyncs its own files "
                 "(docs/storage.md)")
      ->check(CLI::IsMember({"journal", "per-stream"}))
      ->capture_default_str();
  app.add_option("--journal-segment-bytes", options.journal_segment_bytes,
                 "size of a journal segment")
      ->capture_default_str();
  app.add_option("--journal-checkpoint-segments", options.journal_checkpoint_segments,
                 "journal segments kept before the streams' files are synced and the oldest "
                 "deleted (bounds the journal, and the redo after a crash)")
      ->capture_default_str();
  app.add_option("--shutdown-timeout-ms", options.shutdown_timeout_ms,
                 "how long a clean stop waits for in-flight syncs and acknowledgements");
  app.add_option("--log-level", log_level, "debug, info, warning or error");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any mistake in the flags exits 2, with CLI11's message.
    return app.exit(e) == 0 ? 0 : 2;
  }
  options.node_id = node_id;

  absl::StatusOr<std::unique_ptr<walle::runtime::Logger>> log =
      walle::runtime::Logger::create(log_level, absl::StrCat("walle n", node_id));
  if (!log.ok()) {
    std::fprintf(stderr, "walle: %s\n", std::string(log.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<walle::runtime::Server>> server =
      walle::runtime::Server::create(options, **log);
  if (!server.ok()) {
    (*log)->error(absl::StrCat("cannot start: ", server.status().ToString()));
    return 1;
  }
  const absl::Status status = (*server)->run();
  server->reset();
  if (!status.ok()) {
    (*log)->error(absl::StrCat("stopped on error: ", status.ToString()));
    return 1;
  }
  return 0;
}
