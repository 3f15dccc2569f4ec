#include "muxbench/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace muxbench {

std::uint16_t SockAddr::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SockAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

bool parse_address(const std::string& host, std::uint16_t port, SockAddr* out, std::string* err) {
  *out = SockAddr{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  if (err) *err = "'" + host + "' is not a numeric IPv4 or IPv6 address";
  return false;
}

bool parse_host_port(const std::string& text, SockAddr* out, std::string* err) {
  std::string host;
  std::uint16_t port = 0;
  return split_host_port(text, &host, &port, err) && parse_address(host, port, out, err);
}

bool split_host_port(const std::string& text, std::string* host, std::uint16_t* port,
                     std::string* err) {
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) {
      if (err) *err = "'" + text + "' is not [IPv6]:PORT";
      return false;
    }
    *host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      if (err) *err = "'" + text + "' is not HOST:PORT";
      return false;
    }
    *host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  char* end = nullptr;
  errno = 0;
  long p = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || errno != 0 || p < 1 || p > 65535) {
    if (err) *err = "port '" + port_text + "' is not in 1..65535";
    return false;
  }
  *port = static_cast<std::uint16_t>(p);
  return true;
}

bool resolve_host_port(const std::string& text, SockAddr* out, std::string* err) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(text, &host, &port, err)) return false;
  if (parse_address(host, port, out, nullptr)) return true;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0) {
    if (err) *err = "cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return false;
  }
  bool found = false;
  for (addrinfo* a = res; a != nullptr && !found; a = a->ai_next) {
    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
        a->ai_addrlen > sizeof out->storage) {
      continue;
    }
    *out = SockAddr{};
    std::memcpy(&out->storage, a->ai_addr, a->ai_addrlen);
    out->len = static_cast<socklen_t>(a->ai_addrlen);
    found = true;
  }
  ::freeaddrinfo(res);
  if (!found && err) *err = "cannot resolve '" + host + "': no IPv4 or IPv6 address";
  return found;
}

bool is_loopback(const SockAddr& addr) {
  if (addr.family() == AF_INET) {
    auto a = ntohl(reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (addr.family() == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a);
  }
  return false;
}

int listen_tcp(const ListenOptions& opt, std::string* err) {
  SockAddr addr;
  std::string perr;
  if (!parse_address(opt.bind, opt.port, &addr, &perr)) {
    if (err) *err = "bind address: " + perr;
    return -1;
  }
  int type = SOCK_STREAM | SOCK_CLOEXEC | (opt.nonblocking ? SOCK_NONBLOCK : 0);
  int fd = ::socket(addr.family(), type, 0);
  if (fd < 0) {
    if (err) *err = "socket: " + errno_string(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (opt.reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    if (err) *err = "setsockopt SO_REUSEPORT: " + errno_string(errno);
    close_fd(fd);
    return -1;
  }
  if (::bind(fd, addr.get(), addr.len) != 0) {
    if (err) *err = "bind " + addr.to_string() + ": " + errno_string(errno);
    close_fd(fd);
    return -1;
  }
  if (::listen(fd, opt.backlog) != 0) {
    if (err) *err = "listen " + addr.to_string() + ": " + errno_string(errno);
    close_fd(fd);
    return -1;
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  SockAddr addr;
  addr.len = sizeof addr.storage;
  if (::getsockname(fd, addr.get(), &addr.len) != 0) return 0;
  return addr.port();
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool set_nodelay(int fd) {
  int one = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

ssize_t read_retry(int fd, void* buf, std::size_t n) {
  ssize_t r;
  do {
    r = ::read(fd, buf, n);
  } while (r < 0 && errno == EINTR);
  return r;
}

ssize_t write_retry(int fd, const void* buf, std::size_t n) {
  ssize_t r;
  do {
    r = ::send(fd, buf, n, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && errno == ENOTSOCK) {  // pipes in tests
    do {
      r = ::write(fd, buf, n);
    } while (r < 0 && errno == EINTR);
  }
  return r;
}

bool write_all(int fd, const void* buf, std::size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = write_retry(fd, p, n);
    if (w < 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int accept_retry(int listen_fd, int flags) {
  int fd;
  do {
    fd = ::accept4(listen_fd, nullptr, nullptr, flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

bool is_fd_exhaustion(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

bool is_transient_accept_error(int err) {
  return err == ECONNABORTED || err == EPROTO || err == EPERM || err == ENETDOWN ||
         err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
         err == EOPNOTSUPP || err == ENETUNREACH || err == ETIMEDOUT;
}

long raise_nofile_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<long>(rl.rlim_cur);
}

void ignore_sigpipe() {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
}

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

std::string errno_string(int err) {
  char buf[256];
  return std::string(strerror_r(err, buf, sizeof buf));
}

}  // namespace muxbench
