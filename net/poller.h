#pragma once

#include <cstdint>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace walle::net {

// What net/ needs of an event loop: readiness of descriptors and work deferred to after the
// current callback. runtime::EventLoop implements it (runtime/ includes net/, never the
// other way round).
class Poller {
 public:
  using FdCallback = absl::AnyInvocable<void(uint32_t events)>;  // EPOLLIN, EPOLLOUT... bits

  virtual ~Poller() = default;
  virtual absl::Status watch(int fd, uint32_t events, FdCallback callback) = 0;
  virtual absl::Status modify(int fd, uint32_t events) = 0;
  virtual void unwatch(int fd) = 0;
  // Runs `fn` on the loop thread after the current callback, in posting order.
  virtual void defer(absl::AnyInvocable<void()> fn) = 0;
};

// Where net/ reports what an operator should see (connections made and lost, refusals).
enum class LogLevel { kDebug, kInfo, kWarning, kError };
using LogSink = absl::AnyInvocable<void(LogLevel level, std::string_view line)>;

}  // namespace walle::net
