// Which ranks are still running, for the message of a failed collective. At start-up every rank
// appends its pid and process start time to a store key named for its machine (boot id) and pid
// namespace, and reads back the entries of its own machine. When a collective fails, those peers
// are looked up in /proc, so the error says "rank 1 (pid 4242 on this machine) has exited" rather
// than only Gloo's "Connection reset by peer [127.0.0.1]:24202". Peers on other machines (or in
// other containers) cannot be looked at from here; the message says which ranks those are.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class Store;
}

namespace ibllm::dist {

struct PeerProcess {
  int64_t rank = -1;
  int64_t pid = 0;
  uint64_t start_time = 0;  // field 22 of /proc/<pid>/stat: tells a reused pid apart
};

class PeerProcesses {
 public:
  PeerProcesses() = default;
  // Collective through the store: call before the process group forms (its rendezvous then
  // guarantees every rank has appended) and read() after. Failures are not fatal: the table
  // stays empty and messages say the state of the peers is unknown.
  static void publish(c10d::Store& store, int64_t rank);
  static PeerProcesses read(c10d::Store& store, int64_t rank, int64_t world_size);

  // One clause for an error message, e.g. "rank 1 (pid 4242 on this machine) has exited". Polls
  // /proc for up to `grace` while every peer here still looks alive: a peer that was SIGKILLed
  // can close its sockets a moment before it is a zombie.
  std::string describe(std::chrono::milliseconds grace) const;

  const std::vector<PeerProcess>& local_peers() const { return peers_; }

 private:
  int64_t rank_ = -1, world_size_ = 0;
  bool known_ = false;
  std::vector<PeerProcess> peers_;  // on this machine, other than this process
};

// The store key of this machine and pid namespace (exposed for tests).
std::string peer_machine_key();

// The fields of /proc/<pid>/stat used here (exposed for tests).
struct ProcStat {
  char state = '?';         // field 3
  uint64_t flags = 0;       // field 9: the kernel's PF_* task flags
  uint64_t start_time = 0;  // field 22
};
std::optional<ProcStat> parse_proc_stat(const std::string& text);
// The whole of a /proc file, or nullopt when it cannot be opened or read. Never throws: reading
// /proc/<pid>/stat of a process in the middle of its exit fails with ESRCH, and std::ifstream
// (libstdc++'s basic_filebuf::underflow) turns a failed read() into an exception that replaced
// the "rank N has exited" message.
std::optional<std::string> read_proc_file(const std::string& path);
// False for a zombie, a process already past the start of its exit (PF_EXITING: a SIGKILLed
// process closes its sockets during exit, while it may still tear its memory down and is not yet
// a zombie; on a loaded machine that can take longer than describe()'s grace), or a later
// process with the same pid (start time differs).
bool stat_says_alive(const ProcStat& st, uint64_t start_time);
// False when /proc/<pid> is gone or stat_says_alive is false.
bool peer_alive(const PeerProcess& p);

}  // namespace ibllm::dist
