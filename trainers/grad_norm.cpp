// Global gradient norm, clipping and finiteness (see grad_norm.h). fp32 grads go through
// at::_foreach_norm (one multi-tensor kernel on CUDA, a per-tensor loop on CPU); the clip factor is
// built exactly as torch writes it (reciprocal(norm + 1e-6) * max_norm, then clamp) so the clipped
// grads match clip_grad_norm_ bit for bit on CPU.
#include "trainers/grad_norm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace ibllm::train {

at::Tensor global_grad_norm(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> fp32_grads, norms;
  c10::optional<at::Device> device;
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (!device) device = g.device();
    if (g.scalar_type() == at::kFloat)
      fp32_grads.push_back(g);
    else
      norms.push_back(g.detach().to(at::kFloat).norm().to(*device));
  }
  if (!device) return at::zeros({}, at::kFloat);
  at::NoGradGuard no_grad;
  if (!fp32_grads.empty()) {
    for (auto& n : at::_foreach_norm(fp32_grads, 2)) norms.push_back(n.to(*device));
  }
  return at::stack(norms).norm();
}

void clip_grads_(const std::vector<at::Tensor>& params, double max_norm,
                 const at::Tensor& total_norm) {
  at::NoGradGuard no_grad;
  // torch: clip_coef = max_norm / (total_norm + 1e-6), a Python float / Tensor, which torch
  // evaluates as reciprocal(tensor) * float.
  const at::Tensor coef = at::clamp_max(at::reciprocal(total_norm + 1e-6) * max_norm, 1.0);
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    if (g.defined()) g.mul_(coef.to(g.device()));
  }
}

at::Tensor grads_finite(const std::vector<at::Tensor>& params) {
  return at::isfinite(global_grad_norm(params));
}

}  // namespace ibllm::train
