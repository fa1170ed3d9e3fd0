// See peer_processes.h. Linux /proc only; on anything else the table stays empty.
#include "src/distributed/peer_processes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace ibllm::dist {
namespace {

std::optional<ProcStat> read_stat(int64_t pid) {
  const auto text = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  return text ? parse_proc_stat(*text) : std::nullopt;
}

std::string ranks_text(const std::vector<int64_t>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

}  // namespace

std::string peer_machine_key() {
  std::string boot = read_proc_file("/proc/sys/kernel/random/boot_id").value_or("");
  while (!boot.empty() && (boot.back() == '\n' || boot.back() == ' ')) boot.pop_back();
  char ns[128] = {0};
  const ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  return "ibllm/processes/" + boot + "/" + (n > 0 ? std::string(ns, static_cast<size_t>(n)) : "");
}

std::optional<std::string> read_proc_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return out;
}

std::optional<ProcStat> parse_proc_stat(const std::string& text) {
  const auto paren = text.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(text.substr(paren + 1));
  ProcStat st;
  std::string field;
  if (!(in >> st.state)) return std::nullopt;
  for (int i = 4; i < 9; ++i)  // ppid, pgrp, session, tty_nr, tpgid
    if (!(in >> field)) return std::nullopt;
  if (!(in >> st.flags)) return std::nullopt;  // field 9
  for (int i = 10; i < 22; ++i)
    if (!(in >> field)) return std::nullopt;
  if (!(in >> st.start_time)) return std::nullopt;  // field 22
  return st;
}

bool stat_says_alive(const ProcStat& st, uint64_t start_time) {
  constexpr uint64_t kPfExiting = 0x4;  // PF_EXITING (include/linux/sched.h)
  return st.start_time == start_time && st.state != 'Z' && st.state != 'X' && st.state != 'x' &&
         (st.flags & kPfExiting) == 0;
}

bool peer_alive(const PeerProcess& p) {
  const auto st = read_stat(p.pid);
  return st && stat_says_alive(*st, p.start_time);
}

void PeerProcesses::publish(c10d::Store& store, int64_t rank) {
  const auto st = read_stat(::getpid());
  if (!st) return;
  const std::string entry = std::to_string(rank) + ":" + std::to_string(::getpid()) + ":" +
                            std::to_string(st->start_time) + ";";
  try {
    store.append(peer_machine_key(), std::vector<uint8_t>(entry.begin(), entry.end()));
  } catch (const std::exception& e) {
    spdlog::debug("dist: could not publish this process for failure messages: {}", e.what());
  }
}

PeerProcesses PeerProcesses::read(c10d::Store& store, int64_t rank, int64_t world_size) {
  PeerProcesses t;
  t.rank_ = rank;
  t.world_size_ = world_size;
  try {
    const auto bytes = store.get(peer_machine_key());
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    for (std::string entry; std::getline(in, entry, ';');) {
      PeerProcess p;
      char c1 = 0, c2 = 0;
      std::istringstream e(entry);
      if (!(e >> p.rank >> c1 >> p.pid >> c2 >> p.start_time) || c1 != ':' || c2 != ':') continue;
      if (p.rank != rank && p.rank >= 0 && p.rank < world_size) t.peers_.push_back(p);
    }
    t.known_ = true;
  } catch (const std::exception& e) {
    spdlog::debug("dist: could not list the other ranks' processes: {}", e.what());
  }
  std::sort(t.peers_.begin(), t.peers_.end(),
            [](const PeerProcess& a, const PeerProcess& b) { return a.rank < b.rank; });
  return t;
}

std::string PeerProcesses::describe(std::chrono::milliseconds grace) const {
  if (!known_) return "the state of the other ranks is unknown";
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::vector<const PeerProcess*> dead;
  for (;;) {
    dead.clear();
    for (const auto& p : peers_)
      if (!peer_alive(p)) dead.push_back(&p);
    if (!dead.empty() || peers_.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string s;
  for (size_t i = 0; i < dead.size(); ++i)
    s += (i ? ", " : "") + std::string("rank ") + std::to_string(dead[i]->rank) + " (pid " +
         std::to_string(dead[i]->pid) + " on this machine)";
  if (!dead.empty()) s += dead.size() == 1 ? " has exited" : " have exited";
  std::vector<int64_t> local, remote;
  std::set<int64_t> here;
  for (const auto& p : peers_) here.insert(p.rank);
  for (int64_t r = 0; r < world_size_; ++r)
    if (r != rank_ && !here.count(r)) remote.push_back(r);
  if (dead.empty() && !peers_.empty()) {
    for (const auto& p : peers_) local.push_back(p.rank);
    s = std::string(local.size() == 1 ? "rank " : "ranks ") + ranks_text(local) +
        " on this machine " + (local.size() == 1 ? "is" : "are") +
        " still running (hung, or on another code path)";
  }
  if (!remote.empty())
    s += std::string(s.empty() ? "" : "; ") + (remote.size() == 1 ? "rank " : "ranks ") +
         ranks_text(remote) + (remote.size() == 1 ? " runs" : " run") +
         " on another machine (not checked from here)";
  return s;
}

}  // namespace ibllm::dist
