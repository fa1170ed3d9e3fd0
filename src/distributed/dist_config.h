// The `dist:` section of a run config: backend, timeouts, rendezvous overrides and gradient
// bucketing. Rank and world size are never configured here; they come from the launcher's
// environment (detect_dist_env), so the same YAML runs under torchrun, Slurm or a single process.
#pragma once

#include <cstdint>
#include <string>

#include "src/config/section.h"

namespace ibllm::dist {

struct DistConfig {
  std::string backend = "auto";  // auto (nccl on cuda, gloo on cpu) | nccl | gloo
  int64_t timeout_s = 600;       // collectives and rendezvous
  std::string master_addr;       // overrides MASTER_ADDR / the Slurm node list when set
  int64_t master_port = 0;       // overrides MASTER_PORT / the Slurm default when > 0
  double bucket_mb = 25.0;       // gradient bucket size (MiB)
  bool bf16_grad_comm = false;   // communicate fp32 gradients as bf16 (half the bytes)
  bool overlap = true;           // start bucket all-reduces from gradient hooks during backward
  int64_t zero_stage = 0;        // 1: shard the optimizer state over ranks (ZeRO-1)
};

DistConfig parse_dist_config(config::Section s);

}  // namespace ibllm::dist
