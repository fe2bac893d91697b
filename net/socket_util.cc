#include "net/socket_util.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace walle::net {

std::string describe(const Address& a) { return absl::StrCat(a.host, ":", a.port); }

absl::StatusOr<Address> parse_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(text).substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': want HOST:PORT"));
  }
  Address address{text.substr(0, colon), static_cast<uint16_t>(port)};
  if (absl::StatusOr<sockaddr_in> ok = resolve(address); !ok.ok()) return ok.status();
  return address;
}

absl::StatusOr<sockaddr_in> resolve(const Address& a) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(a.port);
  if (inet_pton(AF_INET, a.host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", a.host, "' is not an IPv4 address (names are not resolved)"));
  }
  return addr;
}

absl::Status errno_status(const std::string& what) {
  const int err = errno;
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(err)));
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

absl::StatusOr<ListeningSocket> listen_on(const Address& at, int backlog) {
  absl::StatusOr<sockaddr_in> addr = resolve(at);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    absl::Status s = errno_status(absl::StrCat("bind ", describe(at)));
    ::close(fd);
    return s;
  }
  if (::listen(fd, backlog) != 0) {
    absl::Status s = errno_status(absl::StrCat("listen on ", describe(at)));
    ::close(fd);
    return s;
  }
  sockaddr_in bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  return ListeningSocket{fd, ntohs(bound.sin_port)};
}

}  // namespace walle::net
