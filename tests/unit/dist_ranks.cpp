// Forked rank runner for the [dist] tests; see dist_ranks.h. The child limits itself to one
// intra-op thread: fork() copies no thread pools, and ranks share the machine's cores anyway.
#include "tests/unit/dist_ranks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <ATen/Parallel.h>

namespace ibllm::test {

dist::DistEnv loopback_env(int rank, int world, int port) {
  dist::DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.local_rank = rank;
  e.local_world_size = world;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  e.source = "test";
  return e;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind/getsockname on 127.0.0.1:0 failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void drain(int fd, std::string& into) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    into.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

std::vector<RankOutcome> run_ranks(int world, double limit_s,
                                   const std::function<std::string(int rank)>& body) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<pid_t> pids(static_cast<size_t>(world), -1);
  std::vector<int> fds(static_cast<size_t>(world), -1);
  std::vector<RankOutcome> out(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe() failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork() failed");
    if (pid == 0) {
      ::close(p[0]);
      int status = 0;
      std::string msg;
      try {
        at::set_num_threads(1);
        msg = body(r);
      } catch (const std::exception& e) {
        msg = e.what();
        status = 1;
      } catch (...) {
        msg = "unknown exception";
        status = 1;
      }
      write_all(p[1], msg);
      ::close(p[1]);
      ::_exit(status);
    }
    ::close(p[1]);
    ::fcntl(p[0], F_SETFL, ::fcntl(p[0], F_GETFL) | O_NONBLOCK);
    pids[static_cast<size_t>(r)] = pid;
    fds[static_cast<size_t>(r)] = p[0];
    out[static_cast<size_t>(r)].rank = r;
  }
  int running = world;
  bool killed_all = false;
  while (running > 0) {
    for (int r = 0; r < world; ++r) {
      auto& o = out[static_cast<size_t>(r)];
      pid_t& pid = pids[static_cast<size_t>(r)];
      drain(fds[static_cast<size_t>(r)], o.message);
      if (pid < 0) continue;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        --running;
        o.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        o.ok = o.exit_code == 0 && !o.killed;
      }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (running > 0 && elapsed > limit_s && !killed_all) {
      for (int r = 0; r < world; ++r)
        if (pids[static_cast<size_t>(r)] > 0) {
          out[static_cast<size_t>(r)].killed = true;
          ::kill(pids[static_cast<size_t>(r)], SIGKILL);
        }
      killed_all = true;
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (int r = 0; r < world; ++r) {
    drain(fds[static_cast<size_t>(r)], out[static_cast<size_t>(r)].message);
    ::close(fds[static_cast<size_t>(r)]);
  }
  return out;
}

std::string describe(const std::vector<RankOutcome>& outcomes) {
  std::string s;
  for (const auto& o : outcomes)
    s += "rank " + std::to_string(o.rank) + (o.killed ? " KILLED at deadline" : "") +
         " exit=" + std::to_string(o.exit_code) + " t=" + std::to_string(o.seconds) +
         "s: " + o.message + "\n";
  return s;
}

}  // namespace ibllm::test
