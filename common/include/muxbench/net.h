// Socket set-up and syscall wrappers shared by servers, load generator and
// tests. The wrappers retry EINTR once here so callers never do; EAGAIN is
// returned to the caller, who alone knows whether to wait.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace muxbench {

// An IPv4 or IPv6 socket address, parsed from text.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  std::uint16_t port() const;
  std::string to_string() const;  // "127.0.0.1:40713" or "[::1]:40713"
};

// Parses a numeric address ("127.0.0.1", "::1") and port. No DNS.
// Returns false and sets *err on failure.
bool parse_address(const std::string& host, std::uint16_t port, SockAddr* out, std::string* err);

// Parses "HOST:PORT" or "[V6]:PORT".
bool parse_host_port(const std::string& text, SockAddr* out, std::string* err);

// Splits "HOST:PORT" or "[V6]:PORT" into the host text and a port in
// 1..65535. HOST may be a name. Returns false and sets *err on failure.
bool split_host_port(const std::string& text, std::string* host, std::uint16_t* port,
                     std::string* err);

// Resolves "HOST:PORT" (numeric IPv4, [IPv6] or a host name) to one address:
// a numeric host as parse_host_port() does, a name with getaddrinfo() (TCP,
// IPv4 or IPv6, the first address it returns). Blocking (DNS): call it once,
// at start. Returns false and sets *err ("cannot resolve 'x': Name or service
// not known") on failure. For clients; servers bind numeric addresses only.
bool resolve_host_port(const std::string& text, SockAddr* out, std::string* err);

// True when the address is loopback (127.0.0.0/8 or ::1): the default, and
// what the load generator spreads source addresses over.
bool is_loopback(const SockAddr& addr);

struct ListenOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 0;
  int backlog = 4096;
  bool reuseport = false;    // SO_REUSEPORT, for one listener per thread
  bool nonblocking = false;  // O_NONBLOCK on the listening socket
};

// Creates, binds and listens, on any local address: IPv4 or IPv6, the
// wildcards 0.0.0.0 and :: included (IPv6 listeners are dual-stack as the
// kernel's bindv6only default makes them). Returns the fd, or -1 with *err naming the step
// that failed ("bind 127.0.0.1:40713: Address already in use").
int listen_tcp(const ListenOptions& opt, std::string* err);

// The port a bound socket got (for --port 0).
std::uint16_t local_port(int fd);

bool set_nonblocking(int fd);
bool set_nodelay(int fd);

// read()/write() with EINTR retried. Other errors as the syscalls report them.
ssize_t read_retry(int fd, void* buf, std::size_t n);
ssize_t write_retry(int fd, const void* buf, std::size_t n);

// Writes all n bytes on a blocking fd. Returns false on error (errno set).
bool write_all(int fd, const void* buf, std::size_t n);

// accept4() with EINTR retried; flags as for accept4 (SOCK_NONBLOCK|SOCK_CLOEXEC).
int accept_retry(int listen_fd, int flags);

// True for accept() errors that mean "out of descriptors" (EMFILE, ENFILE,
// ENOBUFS, ENOMEM): the caller must back off, not spin.
bool is_fd_exhaustion(int err);

// True for accept() errors that concern only the connection being accepted
// (ECONNABORTED, EPROTO, ...): skip it and go on.
bool is_transient_accept_error(int err);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft
// limit.
long raise_nofile_limit();

// SIGPIPE would kill a process that writes to a reset connection.
void ignore_sigpipe();

// Closes fd, ignoring EINTR (on Linux the fd is released regardless).
void close_fd(int fd);

// strerror() as std::string, thread-safe.
std::string errno_string(int err);

}  // namespace muxbench
