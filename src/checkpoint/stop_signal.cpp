// See stop_signal.h. The handler only touches a sig_atomic_t and calls async-signal-safe
// functions (write, signal, raise).
#include "src/checkpoint/stop_signal.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>

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

// After the guard is left by an exception: the error is on its way to main, which prints it. A
// launcher that saw another rank die sends SIGTERM right then; the default action would kill
// this process before its error reached the log, so the first signal is only noted.
void on_signal_while_failing(int sig) {
  if (g_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
}

void install(void (*handler)(int), struct sigaction* old_int, struct sigaction* old_term) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, old_int);
  sigaction(SIGTERM, &sa, old_term);
}

}  // namespace

StopSignalGuard::StopSignalGuard() : uncaught_(std::uncaught_exceptions()) {
  if (g_installed) throw Error("checkpoint", "StopSignalGuard is already installed");
  install(on_signal, &g_old_int, &g_old_term);
  g_installed = true;
}

StopSignalGuard::~StopSignalGuard() {
  g_installed = false;
  if (std::uncaught_exceptions() > uncaught_) {  // unwinding: see on_signal_while_failing
    install(on_signal_while_failing, nullptr, nullptr);
    return;
  }
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

bool stop_requested() { return g_signal != 0; }
int stop_signal() { return static_cast<int>(g_signal); }
void clear_stop_request() { g_signal = 0; }

}  // namespace ibllm::checkpoint
