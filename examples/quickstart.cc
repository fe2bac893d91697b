// quickstart: claim a stream, write entries with many in flight, read them back, tail it.
//
//   quickstart CLUSTER_FILE SECRET_FILE STREAM [ENTRIES]
//
// Exits 0 when every entry written reads back with its bytes, in order; prints what it did.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "walle/client.h"

namespace {

int fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "quickstart: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quickstart CLUSTER_FILE SECRET_FILE STREAM [ENTRIES]\n");
    return 2;
  }
  const std::string stream = argv[3];
  const int entries = argc > 4 ? std::stoi(argv[4]) : 1000;

  walle::ClientOptions options;
  options.cluster_file = argv[1];
  options.secret_file = argv[2];
  absl::StatusOr<std::unique_ptr<walle::Client>> client = walle::Client::connect(options);
  if (!client.ok()) return fail("connect", client.status());

  // Become the stream's writer, waiting out another writer's lease if there is one.
  walle::ClaimOptions claim;
  claim.wait = std::chrono::seconds(10);
  absl::StatusOr<std::unique_ptr<walle::Writer>> writer = (*client)->claim(stream, claim);
  if (!writer.ok()) return fail("claim", writer.status());
  const uint64_t first = (*writer)->committed_id() + 1;

  // Many puts in flight: each future resolves once its entry is committed.
  std::vector<std::future<absl::StatusOr<uint64_t>>> puts;
  for (int i = 0; i < entries; ++i) puts.push_back((*writer)->put("entry " + std::to_string(i)));
  for (int i = 0; i < entries; ++i) {
    absl::StatusOr<uint64_t> id = puts[i].get();
    if (!id.ok()) return fail("put", id.status());
    if (*id != first + i) return fail("put", absl::InternalError("ids out of order"));
  }
  std::printf("wrote %d entries, ids %llu..%llu; lease valid: %s\n", entries,
              static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + entries - 1),
              (*writer)->lease_valid() ? "yes" : "no");

  // Read them back with the blocking iterator.
  absl::StatusOr<std::unique_ptr<walle::Reader>> reader = (*client)->read(stream, first);
  if (!reader.ok()) return fail("read", reader.status());
  for (int i = 0; i < entries; ++i) {
    absl::StatusOr<walle::CommittedEntry> e = (*reader)->next(std::chrono::seconds(5));
    if (!e.ok()) return fail("next", e.status());
    if (e->id != first + i || e->data != "entry " + std::to_string(i)) {
      return fail("next", absl::DataLossError("an entry reads back different"));
    }
  }
  std::printf("read %d entries back, in order, intact\n", entries);

  // Tail with a callback: entries written from here on arrive as they are committed.
  std::promise<void> seen;
  std::atomic<int> tailed{0};
  absl::StatusOr<std::unique_ptr<walle::Subscription>> tail = (*client)->tail(
      stream, first + entries, [&](const std::vector<walle::CommittedEntry>& batch) {
        if ((tailed += static_cast<int>(batch.size())) == 10) seen.set_value();
      });
  if (!tail.ok()) return fail("tail", tail.status());
  for (int i = 0; i < 10; ++i) (*writer)->put("tailed " + std::to_string(i));
  if (seen.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return fail("tail", absl::DeadlineExceededError("10 tailed entries did not arrive"));
  }
  std::printf("tailed 10 new entries\n");
  tail->reset();

  if (absl::Status closed = (*writer)->close(); !closed.ok()) return fail("close", closed);
  std::printf("closed the writer; the stream is free for the next claim\n");
  return 0;
}
