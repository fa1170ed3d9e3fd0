// The bind network (spec §3.2): Linear(in→D, bias) then n_blocks pre-norm SwiGLU residual blocks
// x ← x + W2(SiLU(W1 n) ⊙ W3 n), n = RMSNorm(x) (stable) or LayerNorm(x) with biased linears
// (legacy_bridge). Its submodules carry the reference top-level key names (`image_bind_proj`,
// `image_bind_norm_k`, `image_bind_f{1,2,3}_k`); attach() registers them on the composite model so
// its state dict reads exactly like the official one, with no "bind." prefix or mapping table.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/bind/bind_config.h"
#include "models/imagebind/layers.h"
#include "models/common/dense.h"
#include "models/llama/rms_norm.h"

namespace ibllm::models {

class BindNetworkImpl : public torch::nn::Module {
 public:
  // `cfg` must have in_dim and dim resolved (> 0). Allocation draws no random numbers.
  explicit BindNetworkImpl(const BindConfig& cfg, const at::TensorOptions& options = at::kFloat);
  // Reference init (torch.nn defaults): Linear weights and biases U(±1/sqrt(in)), norms 1 / 0.
  void reset_parameters();
  // Registers every submodule on `parent` under the same names (top-level reference keys).
  void attach(torch::nn::Module& parent);

  // f (B, in) or (B, 1, in) -> T (B, 1, D), in the parameters' dtype.
  at::Tensor forward(const at::Tensor& f);

  const BindConfig& config() const { return cfg_; }
  int64_t parameter_count() const;

 private:
  struct Block {
    RMSNorm rms{nullptr};          // stable variant
    EncoderLayerNorm ln{nullptr};  // legacy variant
    Dense f1{nullptr}, f2{nullptr}, f3{nullptr};
  };
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> named_;
  Dense proj_{nullptr};
  std::vector<Block> blocks_;
  BindConfig cfg_;
};
TORCH_MODULE(BindNetwork);

}  // namespace ibllm::models
