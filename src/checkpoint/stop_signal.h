// SIGTERM/SIGINT turned into a request the training loop polls, so it can write a checkpoint and
// exit cleanly (Slurm preemption sends SIGTERM; Ctrl-C sends SIGINT). A second signal while a
// request is pending is not swallowed: the default action runs, so a stuck run still dies.
// In multi-rank runs every rank should agree before stopping (reduce the flag), see docs.
#pragma once

namespace ibllm::checkpoint {

// Installs the handlers for its lifetime and restores the previous ones afterwards. Left by an
// exception, it keeps noting the first SIGTERM/SIGINT instead (a second one still kills), so the
// error reaches main and the log even when a launcher stops the process at that moment.
class StopSignalGuard {
 public:
  StopSignalGuard();
  ~StopSignalGuard();
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

 private:
  int uncaught_;  // std::uncaught_exceptions() at construction
};

bool stop_requested();
int stop_signal();  // the signal number that requested the stop, 0 if none
void clear_stop_request();

}  // namespace ibllm::checkpoint
