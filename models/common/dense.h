// Dense: the one linear layer y = x·Wᵀ (+ b) of LLaMA, the bind network and the frozen encoders.
// Parameters are created as zeros at a chosen dtype/device without drawing random numbers
// (torch::nn::Linear initialises in its constructor, which would cost minutes for a 7B model that
// a checkpoint is about to overwrite). The init is the one real difference between its users, so
// it is an option: LLaMA's tuned biases start at zero, torch.nn.Linear's biases are uniform.
// Parameters that differ in dtype from the input (fp32 deltas next to bf16 activations) are cast
// on use. State-dict keys: weight (out, in), bias (out).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace ibllm::models {

// What reset_parameters() draws. Both: weight U(-1/sqrt(in), 1/sqrt(in)), as torch.nn.Linear.
enum class DenseInit {
  kZeroBias,     // bias zero: the reference zero-initialises every tuned bias (LLaMA, adapters)
  kTorchLinear,  // bias U(-1/sqrt(in), 1/sqrt(in)), drawn after the weight: torch.nn.Linear
};

class DenseImpl : public torch::nn::Module {
 public:
  // The bias (when present) uses `bias_dtype` if given: tuned biases stay fp32 next to bf16
  // weights.
  DenseImpl(int64_t in_features, int64_t out_features, bool with_bias,
            const at::TensorOptions& options = at::kFloat,
            c10::optional<at::ScalarType> bias_dtype = c10::nullopt,
            DenseInit init = DenseInit::kZeroBias);
  DenseImpl(int64_t in_features, int64_t out_features, bool with_bias,
            const at::TensorOptions& options, DenseInit init)
      : DenseImpl(in_features, out_features, with_bias, options, c10::nullopt, init) {}
  void reset_parameters();
  // x (..., in) -> (..., out) in x's dtype.
  at::Tensor forward(const at::Tensor& x) const;

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
  DenseInit init() const { return init_; }

  at::Tensor weight;  // (out, in)
  at::Tensor bias;    // (out) or undefined

 private:
  DenseInit init_;
};
TORCH_MODULE(Dense);

// `t` in dtype `like` (no copy when it already matches).
inline at::Tensor as_dtype_of(const at::Tensor& t, const at::Tensor& like) {
  return t.scalar_type() == like.scalar_type() ? t : t.to(like.scalar_type());
}

// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for `weight` (fan_in = elements of one output row)
// and then for `bias` when defined: the torch default for Linear and Conv layers.
void init_fan_in_uniform(at::Tensor& weight, at::Tensor& bias);

}  // namespace ibllm::models
