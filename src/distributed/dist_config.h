// The `dist:` section of a run config: backend, timeouts, rendezvous overrides and gradient
// bucketing. Rank and world size are never configured here; they come from the launcher's
// environment (detect_dist_env), so the same YAML runs under torchrun, Slurm or a single process.
#pragma once

#include <cstdint>
#include <string>

#include "src/config/section.h"
#include "src/core/choice_table.h"

namespace ibllm::dist {

// dist.backend: kAuto = NCCL on CUDA, Gloo on the CPU.
enum class Backend { kAuto, kNccl, kGloo };
const core::ChoiceTable<Backend>& backend_names();  // auto, nccl, gloo

struct DistConfig {
  Backend backend = Backend::kAuto;
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
