// One LLaMA decoder layer (spec §2.2): h = x + Attention(RMSNorm(x)); out = h + FFN(RMSNorm(h)).
// Submodule names are the reference key segments: attention, feed_forward, attention_norm,
// ffn_norm.
#pragma once

#include "models/llama/attention.h"
#include "models/llama/feed_forward.h"
#include "models/llama/rms_norm.h"

namespace ibllm::models {

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(const LlamaConfig& cfg, const at::TensorOptions& options = at::kFloat);
  void reset_parameters();  // base weights and norms only
  void reset_delta_parameters();
  // x (B,S,D) -> (B,S,D)
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx,
                     const AdapterTerm& adapter = {});

  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
  RMSNorm attention_norm{nullptr};
  RMSNorm ffn_norm{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace ibllm::models
