#pragma once

// Socket helpers shared by net/'s servers (the transport, the metrics endpoint).

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace walle::net {

struct Address {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
};

std::string describe(const Address& a);
// HOST:PORT, HOST an IPv4 address (names are not resolved).
absl::StatusOr<Address> parse_address(const std::string& text);
absl::StatusOr<sockaddr_in> resolve(const Address& a);
// kUnavailable naming `what` and errno's text.
absl::Status errno_status(const std::string& what);
void set_nodelay(int fd);

// A non-blocking listening socket bound to `at` (port 0: any free port).
struct ListeningSocket {
  int fd = -1;
  uint16_t port = 0;
};
absl::StatusOr<ListeningSocket> listen_on(const Address& at, int backlog);

}  // namespace walle::net
