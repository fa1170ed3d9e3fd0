// The optimizer step; see train_step.h.
#include "trainers/train_step.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "models/llama/lm_loss.h"
#include "src/core/kill_point.h"
#include "trainers/grad_norm.h"

namespace ibllm::train {

at::Tensor batch_visual_input(models::ImageBindLlmImpl& model, const data::Batch& b) {
  if (b.size() == 0) return {};
  at::Tensor e;
  if (b.features.defined()) {
    auto f = b.features.to(model.device(), at::kFloat);
    e = f / f.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);
  } else if (b.images.defined()) {
    e = model.embed("vision", b.images);
  } else {
    return {};
  }
  return model.mix({{e, 1.0}});
}

TrainStep::TrainStep(models::ImageBindLlmImpl& model, std::vector<NamedParameter> params,
                     AdamW& optimizer, const TrainerConfig& trainer, const OptimConfig& optim,
                     StepSync sync)
    : model_(model),
      params_(std::move(params)),
      optimizer_(optimizer),
      trainer_(trainer),
      optim_(optim),
      sync_(std::move(sync)) {
  for (const auto& p : params_) tensors_.push_back(p.param);
}

StepStats TrainStep::run(const std::vector<data::Batch>& micro, double lr) {
  StepStats st;
  int64_t local_tokens = 0;
  for (const auto& b : micro) {
    local_tokens += b.valid_label_tokens;
    st.samples += b.size();
    st.tokens_seen += b.tokens.defined() ? b.tokens.numel() : 0;
    st.indices.insert(st.indices.end(), b.indices.begin(), b.indices.end());
  }
  st.tokens = sync_.sum_count ? sync_.sum_count(local_tokens) : local_tokens;
  const bool reference = trainer_.loss_norm == LossNorm::kReference;
  const double accum = static_cast<double>(micro.size());
  auto phase = [this](StepPhase p) {
    if (timer_ != nullptr) timer_->begin(p);
  };

  // Accumulated on the model's device: no host sync per micro-batch (the values are the same fp64
  // adds as on the host, so the CPU result is bitwise unchanged).
  at::Tensor loss_total =
      at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(model_.device()));
  // Every micro-batch's host->device copies are queued first (non_blocking from pinned memory), so
  // they overlap the compute of the first micro-batch instead of stalling each forward.
  std::vector<data::Batch> on_device;
  for (const auto& b : micro) on_device.push_back(data::batch_on(b, model_.device()));
  for (size_t k = 0; k < on_device.size(); ++k) {
    const auto& b = on_device[k];
    if (b.size() == 0) continue;
    phase(StepPhase::kEncoder);
    auto visual = batch_visual_input(model_, b);
    phase(StepPhase::kForward);
    auto logits = model_.forward(b.tokens, visual, b.has_visual);
    core::kill_point("step.forward");  // test seam (IBLLM_TEST_KILL_AT): after a forward
    auto labels = b.labels.to(logits.device());
    at::Tensor loss;
    if (reference) {
      loss = models::reference_lm_loss(logits, labels, b.ignore_index) / accum;
    } else {
      auto tl = models::lm_loss_sum(logits, labels, b.ignore_index);
      // Σ over the step / global token count; × world size because the sync averages.
      loss = tl.sum * (static_cast<double>(sync_.world_size) /
                       static_cast<double>(std::max<int64_t>(st.tokens, 1)));
    }
    phase(StepPhase::kBackward);
    if (k + 1 == micro.size() && sync_.before_final_backward) sync_.before_final_backward();
    if (loss.requires_grad()) loss.backward();
    core::kill_point("step.backward");
    loss_total = loss_total + loss.detach().to(at::kDouble);
  }

  if (sync_.average_grads) {
    phase(StepPhase::kGradSync);  // with overlap: what was left after backward
    // Every rank reduces the same list: grads of parameters unused this step are zero-filled.
    std::vector<at::Tensor> grads;
    for (auto& t : tensors_) {
      if (!t.grad().defined()) t.mutable_grad() = at::zeros_like(t);
      grads.push_back(t.grad());
    }
    sync_.average_grads(grads);
  }

  phase(StepPhase::kOptimizer);  // grad norm, the host sync, clipping, AdamW
  auto norm = global_grad_norm(tensors_);
  // The one host sync of the step, one device->host copy of (grad norm, loss): they decide whether
  // to update, and the guard's semantics need that on the host (docs/performance.md, "Host
  // syncs"): a skipped step must not advance AdamW's per-tensor step counts (bias correction is a
  // host double), the consecutive-bad-steps abort and its diagnostic read them, and every rank
  // must take the same branch.
  const auto host =
      at::stack({norm.detach().to(loss_total.device(), at::kDouble), loss_total}).to(at::kCPU);
  st.grad_norm = host[0].item<double>();
  // This rank's share (tokens: Σ local CE / global tokens; reference: local mean of means). The
  // distributed layer reduces it over ranks at log steps.
  st.loss = host[1].item<double>() / (reference ? 1.0 : static_cast<double>(sync_.world_size));
  // After the sync every rank holds the same gradients, hence the same norm: with several ranks
  // the decision uses the norm alone (a non-finite loss poisons the synced grads anyway), so all
  // ranks skip or apply together.
  st.finite = std::isfinite(st.grad_norm) && (sync_.world_size > 1 || std::isfinite(st.loss));
  if (st.finite && st.tokens > 0) {
    if (optim_.clip_grad_norm > 0) clip_grads_(tensors_, optim_.clip_grad_norm, norm);
    optimizer_.step(lr);
    core::kill_point("step.update");  // the weights changed, the step is not counted yet
    if (sync_.after_update) sync_.after_update();
    st.applied = true;
  }
  optimizer_.zero_grad();
  if (timer_ != nullptr) timer_->end();
  return st;
}

std::pair<double, int64_t> TrainStep::eval_batch(models::ImageBindLlmImpl& model,
                                                 const data::Batch& b) {
  if (b.size() == 0) return {0.0, 0};
  at::NoGradGuard guard;
  const auto d = data::batch_on(b, model.device());
  auto logits = model.forward(d.tokens, batch_visual_input(model, d), d.has_visual);
  auto tl = models::lm_loss_sum(logits, d.labels, d.ignore_index);
  return {tl.sum.item<double>(), tl.count.item<int64_t>()};
}

}  // namespace ibllm::train
