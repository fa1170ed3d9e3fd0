// The data-parallel wiring of one training process, shared by `ibllm train` and `ibllm bench`:
// a GradSync over the trainable tensors (overlapped with the last backward when dist.overlap),
// the ZeRO-1 partition (dist.zero_stage 1) and the StepSync hooks TrainStep calls. With a local
// (single-process) communicator every hook is absent and nothing is communicated; a real process
// group of world size 1 (bench.grad_sync) still runs every collective, to time them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "src/distributed/communicator.h"
#include "src/distributed/dist_config.h"
#include "src/distributed/grad_sync.h"
#include "trainers/adamw.h"
#include "trainers/train_step.h"

namespace ibllm::train {

class DataParallel {
 public:
  // `params`: the trainable parameters, in the optimizer's order. Collective: first gives every
  // rank rank 0's values (so differently initialised ranks cannot diverge).
  DataParallel(dist::Communicator& comm, const std::vector<NamedParameter>& params,
               const dist::DistConfig& cfg);
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  bool active() const { return grad_sync_ != nullptr; }
  // Per parameter: whether this rank keeps its optimizer state (all true without ZeRO-1).
  std::vector<bool> owned() const;
  bool sharded() const { return !owner_.empty(); }
  // Hooks for TrainStep (refer to this object: keep it alive while the TrainStep runs).
  StepSync step_sync();
  // Collective under ZeRO-1: the full optimizer state on rank 0 (empty elsewhere); otherwise this
  // rank's AdamW::state_dict().
  std::map<std::string, at::Tensor> optimizer_state(const AdamW& optimizer);
  // "gradient sync: 3 buckets, 1.2 MB per step, overlapped with backward; ZeRO-1 ..." or "".
  std::string describe() const;
  dist::GradSync* grad_sync() { return grad_sync_.get(); }

 private:
  dist::Communicator& comm_;
  std::vector<at::Tensor> params_;
  std::vector<int64_t> owner_;  // ZeRO-1 owning rank per parameter; empty: no sharding
  std::unique_ptr<dist::GradSync> grad_sync_;
};

}  // namespace ibllm::train
