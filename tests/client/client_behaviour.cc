// What the client library promises when things go wrong, against real servers
// (tests/client/run.sh starts and kills them):
//
//   client_behaviour CLUSTER SECRET STREAM callback-backpressure
//     Puts from inside put callbacks (on the I/O thread) never block: past twice the pipeline
//     they fail at once with kResourceExhausted, and every put that was taken commits.
//   client_behaviour CLUSTER SECRET STREAM close-when-down
//     Claims and commits, prints "ready", then waits for a line on stdin (the script kills every
//     server meanwhile); then puts more and closes: every put resolves, none with OK, and close()
//     returns an error within its 5 s grace instead of hanging.
//
// Exit 0 when the promise held, 1 (with the reason) when not.

#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "walle/client.h"

namespace {

int fail(const std::string& why) {
  std::cerr << "FAIL: " << why << "\n";
  return 1;
}

std::unique_ptr<walle::Writer> claim(walle::Client& client, const std::string& stream,
                                     size_t pipeline) {
  walle::ClaimOptions options;
  options.wait = std::chrono::seconds(10);
  options.max_in_flight_entries = pipeline;
  auto writer = client.claim(stream, options);
  if (!writer.ok()) {
    std::cerr << "claim: " << writer.status() << "\n";
    return nullptr;
  }
  return std::move(*writer);
}

int callback_backpressure(walle::Client& client, const std::string& stream) {
  constexpr size_t kPipeline = 8;
  std::unique_ptr<walle::Writer> writer = claim(client, stream, kPipeline);
  if (!writer) return fail("no claim");
  // One put from here; each of its callbacks puts a burst of 4 * kPipeline more, from the I/O
  // thread, until 200 have been taken.
  std::mutex mu;
  size_t taken = 1, refused = 0, committed = 0, failed = 0, resolved = 0;
  std::string first_failure;
  std::promise<void> all_resolved;
  std::function<void(absl::StatusOr<uint64_t>)> on_done;
  on_done = [&](absl::StatusOr<uint64_t> r) {
    size_t burst = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++resolved;
      if (r.ok()) {
        ++committed;
      } else if (r.status().code() == absl::StatusCode::kResourceExhausted) {
        ++refused;
      } else {
        ++failed;
        if (first_failure.empty()) first_failure = r.status().ToString();
      }
      if (r.ok() && taken < 200) burst = 4 * kPipeline;
      taken += burst;  // counted before they are put: a refusal resolves them too
    }
    for (size_t i = 0; i < burst; ++i) writer->put("from a callback", on_done);
    std::lock_guard<std::mutex> lock(mu);
    if (resolved == taken) all_resolved.set_value();
  };
  writer->put("first", on_done);
  if (all_resolved.get_future().wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return fail("puts from callbacks did not all resolve within 30 s (a callback blocked?)");
  }
  std::lock_guard<std::mutex> lock(mu);
  std::cout << "taken " << taken << ": committed " << committed << ", refused " << refused
            << " (kResourceExhausted), failed " << failed << "\n";
  if (failed > 0) return fail("a put failed other than by backpressure: " + first_failure);
  if (refused == 0) return fail("bursts of 4x the pipeline from callbacks were never refused");
  if (committed + refused != taken) return fail("puts were lost");
  if (absl::Status s = writer->close(); !s.ok()) return fail("close: " + s.ToString());
  return 0;
}

int close_when_down(walle::Client& client, const std::string& stream) {
  std::unique_ptr<walle::Writer> writer = claim(client, stream, 16);
  if (!writer) return fail("no claim");
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<uint64_t> id = writer->put("before").get();
    if (!id.ok()) return fail("a put with the cluster up: " + id.status().ToString());
  }
  std::cout << "ready" << std::endl;
  std::string line;
  std::getline(std::cin, line);  // every server is dead now
  std::vector<std::future<absl::StatusOr<uint64_t>>> puts;
  for (int i = 0; i < 5; ++i) puts.push_back(writer->put("after"));
  const auto start = std::chrono::steady_clock::now();
  const absl::Status closed = writer->close();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "close() took " << seconds << " s: " << closed << "\n";
  if (closed.ok()) return fail("close() reported OK with every server dead");
  for (auto& put : puts) {
    if (put.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      return fail("a put was still unresolved after close() returned");
    }
    absl::StatusOr<uint64_t> r = put.get();
    if (r.ok()) return fail("a put committed with every server dead");
  }
  if (seconds > 10) return fail("close() took longer than its 5 s grace (and a margin)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: client_behaviour CLUSTER SECRET STREAM callback-backpressure|close-when-down\n";
    return 2;
  }
  walle::ClientOptions options;
  options.cluster_file = argv[1];
  options.secret_file = argv[2];
  auto client = walle::Client::connect(options);
  if (!client.ok()) return fail("connect: " + client.status().ToString());
  const std::string mode = argv[4];
  if (mode == "callback-backpressure") return callback_backpressure(**client, argv[3]);
  if (mode == "close-when-down") return close_when_down(**client, argv[3]);
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
