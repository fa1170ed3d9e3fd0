// Which ranks are still running, for the message of a failed collective. At start-up every rank
// appends its pid and process start time to a store key named for its machine (boot id) and pid
// namespace, and reads back the entries of its own machine. When a collective fails, those peers
// are looked up in /proc, so the error says "rank 1 (pid 4242 on this machine) has exited" rather
// than only Gloo's "Connection reset by peer [127.0.0.1]:24202". Peers on other machines (or in
// other containers) cannot be looked at from here; the message says which ranks those are.
#pragma once

#include <chrono>
#include <cstdint>
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
// False when /proc/<pid> is gone, is a zombie, or belongs to a later process (start time differs).
bool peer_alive(const PeerProcess& p);

}  // namespace ibllm::dist
