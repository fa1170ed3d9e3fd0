// One optimizer step over `grad_accum` micro-batches: visual features from the frozen towers (or
// the batch's cached features), composite forward, next-token loss, backward, gradient sync (one
// hook, a no-op for one process), global-norm clipping, the non-finite guard, AdamW. Loss
// normalisation is exact: Σ token losses / Σ valid tokens of the whole step (all micro-batches,
// all ranks), known on the host before the first backward; `reference` mode reproduces the
// official mean of per-micro-batch means / accum. One host sync per optimizer step (one copy of
// grad norm + loss, after backward); none per micro-batch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/collate.h"
#include "models/imagebind_llm.h"
#include "trainers/adamw.h"
#include "trainers/optim_config.h"
#include "trainers/phase_timer.h"
#include "trainers/trainer_config.h"

namespace ibllm::train {

// What the distributed layer plugs in; the defaults are the single-process no-ops.
struct StepSync {
  int64_t world_size = 1;
  // Called right before the step's last backward, so gradient hooks can start communication
  // while backward runs (overlap); optional.
  std::function<void()> before_final_backward;
  // Averages the trainable gradients over ranks in place (SUM then divide), once per step.
  std::function<void(const std::vector<at::Tensor>& grads)> average_grads;
  // After an applied optimizer update (ZeRO-1: each rank updated its shard; this shares them).
  std::function<void()> after_update;
  // Sums host counts over ranks (valid label tokens of the step).
  std::function<int64_t(int64_t)> sum_count;
};

struct StepStats {
  double loss = 0.0;        // the step's loss (tokens: Σ CE / Σ tokens; reference: mean of means)
  int64_t tokens = 0;       // valid label tokens of the step (all ranks)
  int64_t samples = 0;      // rows of this rank's micro-batches
  int64_t tokens_seen = 0;  // B×T positions this rank processed
  double grad_norm = 0.0;   // before clipping
  bool finite = true;
  bool applied = false;  // the optimizer updated the parameters
  std::vector<int64_t> indices;  // dataset indices of this rank's rows (diagnostics)
};

// f (B, in) fp32 for the batch: L2-normalised tower embeddings of its images (or its cached
// features) mixed with weight 1 (spec §3.1); undefined when no row has a visual input.
at::Tensor batch_visual_input(models::ImageBindLlmImpl& model, const data::Batch& b);

class TrainStep {
 public:
  TrainStep(models::ImageBindLlmImpl& model, std::vector<NamedParameter> params, AdamW& optimizer,
            const TrainerConfig& trainer, const OptimConfig& optim, StepSync sync = {});
  StepStats run(const std::vector<data::Batch>& micro, double lr);
  // `ibllm bench`: phase boundaries go to `timer` (nullptr: none, the default).
  void set_phase_timer(PhaseTimer* timer) { timer_ = timer; }
  // Loss only, no graph (evaluation): Σ CE and valid-token count of one batch.
  static std::pair<double, int64_t> eval_batch(models::ImageBindLlmImpl& model,
                                               const data::Batch& b);

 private:
  models::ImageBindLlmImpl& model_;
  std::vector<NamedParameter> params_;
  std::vector<at::Tensor> tensors_;
  AdamW& optimizer_;
  TrainerConfig trainer_;
  OptimConfig optim_;
  StepSync sync_;
  PhaseTimer* timer_ = nullptr;
};

}  // namespace ibllm::train
