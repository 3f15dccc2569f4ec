// TEST ONLY: a ROT13 line server that misbehaves on purpose, so the load
// generator's verification can be shown to catch it. Thread per connection,
// the shared LineCodec for the transform, then the damage:
//
//   --flip-every N            flip one bit of the first byte of every Nth reply line
//   --stale                   answer each line with the previous line's reply
//   --garble-newline-every N  replace the '\n' of every Nth reply line by 'X' (framing lost)
//   --report FILE             on SIGTERM, write the lines served per connection, one
//                             number per line, in accept order
//
// Prints `READY strategy=corrupt port=<port> pid=<pid>` like muxbench-server.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "muxbench/line_codec.h"
#include "muxbench/net.h"
#include "muxbench/wire.h"

namespace {

std::uint64_t g_flip_every = 0;
std::uint64_t g_garble_every = 0;
bool g_stale = false;
std::atomic<std::uint64_t> g_lines{0};
std::mutex g_mu;
std::vector<std::shared_ptr<std::atomic<std::uint64_t>>> g_per_conn;

void serve(int fd, std::shared_ptr<std::atomic<std::uint64_t>> served) {
  muxbench::LineCodec codec;
  std::string out;
  std::string previous;
  char buf[16384];
  for (;;) {
    ssize_t r = muxbench::read_retry(fd, buf, sizeof buf);
    if (r <= 0) break;
    out.clear();
    codec.feed(buf, static_cast<std::size_t>(r), out);
    std::string reply;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t nl = out.find('\n', start);
      std::string line = out.substr(start, nl - start + 1);
      start = nl + 1;
      const std::uint64_t n = g_lines.fetch_add(1) + 1;
      served->fetch_add(1);
      if (g_stale) {
        std::string current = line;
        if (!previous.empty()) line = previous;
        previous = current;
      }
      if (g_flip_every != 0 && n % g_flip_every == 0 && line.size() > 1) line[0] ^= 0x01;
      if (g_garble_every != 0 && n % g_garble_every == 0) line.back() = 'X';
      reply += line;
    }
    if (!reply.empty() && !muxbench::write_all(fd, reply.data(), reply.size())) break;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string report;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "corrupt_server: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--flip-every") {
      g_flip_every = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--garble-newline-every") {
      g_garble_every = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--stale") {
      g_stale = true;
    } else if (a == "--report") {
      report = next();
    } else if (a == "--port") {
      next();  // always ephemeral
    } else {
      std::fprintf(stderr, "corrupt_server: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  muxbench::ignore_sigpipe();
  muxbench::raise_nofile_limit();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  muxbench::ListenOptions lo;
  std::string err;
  int lfd = muxbench::listen_tcp(lo, &err);
  if (lfd < 0) {
    std::fprintf(stderr, "corrupt_server: %s\n", err.c_str());
    return 1;
  }
  std::thread([stop, report] {
    int sig = 0;
    sigwait(&stop, &sig);
    if (!report.empty()) {
      std::ofstream f(report);
      std::lock_guard<std::mutex> lock(g_mu);
      for (const auto& c : g_per_conn) f << c->load() << "\n";
    }
    std::fflush(stdout);
    ::_exit(0);
  }).detach();

  std::printf("%s\n", muxbench::wire::ready_line("corrupt", muxbench::local_port(lfd),
                                                 static_cast<long>(::getpid()))
                         .c_str());
  std::fflush(stdout);
  for (;;) {
    int fd = muxbench::accept_retry(lfd, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto served = std::make_shared<std::atomic<std::uint64_t>>(0);
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_per_conn.push_back(served);
    }
    std::thread(serve, fd, served).detach();
  }
}
