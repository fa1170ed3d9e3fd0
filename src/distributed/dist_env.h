// Who am I in the job: rank, world size and rendezvous address from the launcher's environment.
// Precedence: torchrun variables, then Slurm (srun), then a single process. Every value is checked
// (integers, 0 <= rank < world, ...) and a bad one is a ConfigError naming the variable, because a
// silently wrong rank deadlocks or corrupts a run much later.
#pragma once

#include <cstdint>
#include <string>

#include "src/distributed/dist_config.h"

namespace ibllm::dist {

constexpr int64_t kDefaultMasterPort = 29500;

struct DistEnv {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  int64_t local_world_size = 1;
  std::string master_addr;
  int64_t master_port = 0;
  std::string source = "single";  // "torchrun" | "slurm" | "single"
  // torchrun >= 2.4 hosts the TCPStore in its agent (TORCHELASTIC_USE_AGENT_STORE=True): every
  // rank connects as a client, keys live under this prefix ("/worker/attempt_<restart>").
  bool use_agent_store = false;
  std::string store_prefix;
};

DistEnv detect_dist_env(const DistConfig& cfg);

// First host of a Slurm host list ("gpu[03-05,9],cpu1" -> "gpu03"); exposed for tests.
std::string first_slurm_host(const std::string& nodelist);

}  // namespace ibllm::dist
