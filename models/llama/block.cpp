// Decoder layer: pre-norm residual attention then pre-norm residual SwiGLU.
#include "models/llama/block.h"

namespace ibllm::models {

TransformerBlockImpl::TransformerBlockImpl(const LlamaConfig& cfg,
                                           const at::TensorOptions& options) {
  attention = register_module("attention", Attention(cfg, options));
  feed_forward = register_module("feed_forward", FeedForward(cfg, options));
  attention_norm = register_module("attention_norm",
                                   RMSNorm(cfg.dim, cfg.norm_eps, options, cfg.fused_kernels));
  ffn_norm =
      register_module("ffn_norm", RMSNorm(cfg.dim, cfg.norm_eps, options, cfg.fused_kernels));
}

void TransformerBlockImpl::reset_parameters() {
  attention->reset_parameters();
  feed_forward->reset_parameters();
  attention_norm->reset_parameters();
  ffn_norm->reset_parameters();
}

void TransformerBlockImpl::reset_delta_parameters() {
  attention->reset_delta_parameters();
  feed_forward->reset_delta_parameters();
}

at::Tensor TransformerBlockImpl::forward(const at::Tensor& x, const AttentionContext& ctx,
                                         const AdapterTerm& adapter) {
  // x (B,S,D) -> (B,S,D)
  auto h = x + attention->forward(attention_norm->forward(x), ctx, adapter);
  return h + feed_forward->forward(ffn_norm->forward(h));
}

}  // namespace ibllm::models
