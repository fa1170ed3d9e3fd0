// Gradient statistics for one optimizer step, all as device tensors so the trainer syncs once per
// step (when it reads norm and finiteness together), never per micro-batch. Semantics are those of
// torch.nn.utils.clip_grad_norm_ (1.13): L2 of the per-tensor L2 norms, coef = max_norm /
// (norm + 1e-6) clamped to 1 and always multiplied in (no data-dependent branch, so no sync).
// Parameters without a grad are ignored by all three functions.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace ibllm::train {

// L2 norm over all grads as a 0-d fp32 tensor on the first grad's device (0 on CPU if no grads).
// Per-tensor norms are taken in fp32 (non-fp32 grads are upcast first).
at::Tensor global_grad_norm(const std::vector<at::Tensor>& params);

// Scales every grad in place by min(1, max_norm / (total_norm + 1e-6)); total_norm from
// global_grad_norm. A non-finite total_norm makes the grads non-finite (the step is then skipped).
void clip_grads_(const std::vector<at::Tensor>& params, double max_norm,
                 const at::Tensor& total_norm);

// 0-d bool tensor: true when every grad is finite. Computed as isfinite(global L2 norm): NaN and
// Inf propagate into the norm; grads whose squared sum overflows fp32 (|g| above ~1e19) also count
// as non-finite, which is the right call for a step that could not be applied sanely. A trainer
// that already has the global norm can use at::isfinite(norm) and save the pass.
at::Tensor grads_finite(const std::vector<at::Tensor>& params);

}  // namespace ibllm::train
