// The LLaMA decoder of ImageBind-LLM (spec §2, §3.3, §3.4): token embedding, n_layers blocks with
// optional bias/LoRA deltas and per-layer gated adapter injection, final RMSNorm, untied output.
// Parameter names are the reference keys (`tok_embeddings.weight`, `layers.3.attention.gate`,
// `layers.0.feed_forward.lora_w1_l1.weight`, `norm.weight`, `output.weight`); the composite model
// registers this module as `llama`. Base weights take the construction dtype (bf16/fp16/fp32);
// biases, LoRA and gates are fp32 and cast to the activation dtype on use (no autocast needed).
#pragma once

#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "models/common/dense.h"
#include "models/common/embedding.h"
#include "models/llama/block.h"
#include "models/llama/config.h"
#include "models/llama/kv_cache.h"

namespace ibllm::models {

class LlamaImpl : public torch::nn::Module {
 public:
  // Allocates without random numbers: base weights 0, norms 1, deltas/gates 0. Call
  // reset_parameters() for a fresh reference init, or load a checkpoint.
  explicit LlamaImpl(const LlamaConfig& cfg, const at::TensorOptions& options = at::kFloat);
  // Reference init of everything: embedding N(0,1), linears U(±1/sqrt(in)), norms 1, biases 0,
  // LoRA A default / B 0, gates 0. All base weights are drawn before any delta, so a seed gives
  // the same base with or without biases / LoRA.
  void reset_parameters();
  // Only the ImageBind-LLM deltas (biases, LoRA, gates): for use after loading base weights.
  void reset_delta_parameters();

  // Training / full forward. tokens (B,S) int64; adapters: empty (no injection) or one tensor per
  // layer, (B|1, L, D) each, undefined entries skipping that layer. -> logits (B,S,V) fp32.
  at::Tensor forward(const at::Tensor& tokens, const std::vector<at::Tensor>& adapters = {});

  // Per-layer adapter terms, computed once per request (spec §3.3 "Optimisation").
  std::vector<AdapterTerm> prepare_adapters(const std::vector<at::Tensor>& adapters);

  // Cache for `batch` sequences and `capacity` columns (≤ max_seq_len). left_pad: per-sequence
  // padding widths of a left-padded batch (empty: none).
  KVCache make_cache(int64_t batch, int64_t capacity, const std::vector<int64_t>& left_pad = {});
  // Incremental step: tokens (B,S) placed at columns [cache.length, cache.length+S); any S, any
  // offset (prefill, single token, multi-token after a prefix). -> logits (B,S,V) fp32, or (B,1,V)
  // for the last position only when last_only.
  at::Tensor forward_cached(const at::Tensor& tokens, KVCache& cache,
                            const std::vector<AdapterTerm>& adapters = {}, bool last_only = false);

  // Deployment: folds LoRA into wq wk wo w1 w2 w3 (B zeroed afterwards), never into wv.
  void merge_lora();

  const LlamaConfig& config() const { return cfg_; }
  at::ScalarType activation_dtype() const { return tok_embeddings->weight.scalar_type(); }

  TokenEmbedding tok_embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  Dense output{nullptr};

 private:
  at::Tensor run(const at::Tensor& tokens, const at::Tensor& positions, int64_t offset,
                 const at::Tensor& key_valid, KVCache* cache,
                 const std::vector<AdapterTerm>& adapters, bool last_only);
  TransformerBlockImpl& layer(size_t i);

  LlamaConfig cfg_;
};
TORCH_MODULE(Llama);

}  // namespace ibllm::models
