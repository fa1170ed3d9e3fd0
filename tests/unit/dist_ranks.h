// Test helper: runs N ranks of a distributed test as forked children of the Catch2 process, each
// bounded by a deadline (stragglers are SIGKILLed), and collects each rank's exit status and a
// message it reports through a pipe. Children never run Catch macros; they throw on failure.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "src/distributed/dist_env.h"

namespace ibllm::test {

struct RankOutcome {
  int rank = 0;
  bool ok = false;         // body returned normally (exit status 0)
  bool killed = false;     // still running at the deadline
  int exit_code = -1;      // -1 when killed by a signal
  std::string message;     // body's return value, or the exception text
  double seconds = 0.0;    // until the child was reaped
};

// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close).
int free_port();

// Forks `world` children; child r runs body(r) and _exits with 0 (its return value is the
// message) or 1 (the exception's what()). `body` may also _exit itself to simulate a crash.
std::vector<RankOutcome> run_ranks(int world, double limit_s,
                                   const std::function<std::string(int rank)>& body);

// The environment of rank r of a loopback job on `port` (source "test").
dist::DistEnv loopback_env(int rank, int world, int port);

// One line per rank, for failure messages.
std::string describe(const std::vector<RankOutcome>& outcomes);

}  // namespace ibllm::test
