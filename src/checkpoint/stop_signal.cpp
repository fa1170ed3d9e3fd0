// See stop_signal.h. The handler only touches a sig_atomic_t and calls async-signal-safe
// functions (write, signal, raise).
#include "src/checkpoint/stop_signal.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

#include "src/core/error.h"

namespace ibllm::checkpoint {

namespace {

volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_old_int;
struct sigaction g_old_term;
bool g_installed = false;

void on_signal(int sig) {
  if (g_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
  const char msg[] =
      "\nibllm: stop requested; saving a checkpoint at the end of this step "
      "(send the signal again to abort now)\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

}  // namespace

StopSignalGuard::StopSignalGuard() {
  if (g_installed) throw Error("checkpoint", "StopSignalGuard is already installed");
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  g_installed = true;
}

StopSignalGuard::~StopSignalGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_installed = false;
}

bool stop_requested() { return g_signal != 0; }
int stop_signal() { return static_cast<int>(g_signal); }
void clear_stop_request() { g_signal = 0; }

}  // namespace ibllm::checkpoint
