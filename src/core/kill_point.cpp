// See kill_point.h. The variable is read once; a malformed value is reported on stderr and
// ignored rather than thrown (the seam must never change how a normal run behaves). The last words
// go out with one write(2) so they reach the log even though SIGKILL flushes nothing.
#include "src/core/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ibllm::core {
namespace {

struct KillSpec {
  std::string point;  // empty: no kill point armed in this process
  long long nth = 0;
};

KillSpec parse_spec() {
  KillSpec s;
  const char* env = std::getenv("IBLLM_TEST_KILL_AT");
  if (env == nullptr || *env == '\0') return s;
  std::string v = env;
  if (const auto at = v.rfind('@'); at != std::string::npos) {
    const char* rank = std::getenv("RANK");
    const std::string want = v.substr(at + 1);
    v.resize(at);
    if (want != (rank != nullptr && *rank != '\0' ? rank : "0")) return s;  // another rank's kill
  }
  const auto colon = v.rfind(':');
  char* end = nullptr;
  const long long n =
      colon == std::string::npos ? 0 : std::strtoll(v.c_str() + colon + 1, &end, 10);
  if (colon == std::string::npos || colon == 0 || end == nullptr || *end != '\0' || n < 1) {
    std::fprintf(stderr, "IBLLM_TEST_KILL_AT='%s' ignored: expected <point>:<n>[@<rank>], n >= 1\n",
                 env);
    return s;
  }
  s.point = v.substr(0, colon);
  s.nth = n;
  return s;
}

const KillSpec& spec() {
  static const KillSpec s = parse_spec();
  return s;
}

std::atomic<long long> g_passes{0};

}  // namespace

void kill_point(const char* point) {
  const KillSpec& s = spec();
  if (s.point.empty() || s.point != point) return;
  if (g_passes.fetch_add(1) + 1 != s.nth) return;
  // The wall-clock time lets a test measure how long the other ranks take to notice.
  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  const std::string msg = "IBLLM_TEST_KILL_AT: SIGKILL at " + s.point + ":" +
                          std::to_string(s.nth) + " (pid " + std::to_string(::getpid()) +
                          ", unix_ms " + std::to_string(ms) + ")\n";
  [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, msg.data(), msg.size());
  ::kill(::getpid(), SIGKILL);
  ::pause();  // SIGKILL cannot be caught; never returns
}

}  // namespace ibllm::core
