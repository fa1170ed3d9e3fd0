// LLaMA forward paths (full and cached), cache allocation, adapter preparation and LoRA merge.
// Both forward paths share run(): they differ only in positions, mask offset and cache.
#include "models/llama/llama.h"

#include <string>

#include "src/core/error.h"

namespace ibllm::models {

LlamaImpl::LlamaImpl(const LlamaConfig& cfg, const at::TensorOptions& options) : cfg_(cfg) {
  cfg_.validate();
  tok_embeddings =
      register_module("tok_embeddings", TokenEmbedding(cfg.vocab_size, cfg.dim, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.n_layers; ++i) layers->push_back(TransformerBlock(cfg_, options));
  norm = register_module("norm", RMSNorm(cfg.dim, cfg.norm_eps, options, cfg.fused_kernels));
  output = register_module("output", Dense(cfg.dim, cfg.vocab_size, false, options));
}

TransformerBlockImpl& LlamaImpl::layer(size_t i) { return *layers->ptr<TransformerBlockImpl>(i); }

void LlamaImpl::reset_parameters() {
  // Every base weight first, the deltas after: the random base is the same whether or not the
  // model has biases / LoRA (a LoRA draw between layers would shift every later base weight).
  tok_embeddings->reset_parameters();
  for (size_t i = 0; i < layers->size(); ++i) layer(i).reset_parameters();
  norm->reset_parameters();
  output->reset_parameters();
  reset_delta_parameters();
}

void LlamaImpl::reset_delta_parameters() {
  for (size_t i = 0; i < layers->size(); ++i) layer(i).reset_delta_parameters();
}

std::vector<AdapterTerm> LlamaImpl::prepare_adapters(const std::vector<at::Tensor>& adapters) {
  std::vector<AdapterTerm> terms;
  if (adapters.empty()) return terms;
  if (adapters.size() != layers->size())
    throw ModelError("got " + std::to_string(adapters.size()) + " adapter inputs for " +
                         std::to_string(layers->size()) + " LLaMA layers",
                     "pass one (B,L,D) tensor per layer (undefined to skip a layer)");
  terms.resize(adapters.size());
  for (size_t i = 0; i < adapters.size(); ++i)
    if (adapters[i].defined()) terms[i] = layer(i).attention->prepare_adapter(adapters[i]);
  return terms;
}

at::Tensor LlamaImpl::forward(const at::Tensor& tokens, const std::vector<at::Tensor>& adapters) {
  // tokens (B,S) -> logits (B,S,V)
  TORCH_CHECK(tokens.dim() == 2, "tokens must be (B,S), got ", tokens.sizes());
  if (tokens.size(1) > cfg_.max_seq_len)
    throw ModelError("sequence of " + std::to_string(tokens.size(1)) +
                         " tokens exceeds max_seq_len " + std::to_string(cfg_.max_seq_len),
                     "raise model.llama.max_seq_len or truncate the input");
  auto positions = at::arange(tokens.size(1), tokens.options().dtype(at::kLong));
  return run(tokens, positions, 0, at::Tensor(), nullptr, prepare_adapters(adapters), false);
}

KVCache LlamaImpl::make_cache(int64_t batch, int64_t capacity,
                              const std::vector<int64_t>& left_pad) {
  if (capacity < 1 || capacity > cfg_.max_seq_len)
    throw ModelError("KV cache of " + std::to_string(capacity) +
                         " columns requested; the model "
                         "accepts 1.." +
                         std::to_string(cfg_.max_seq_len),
                     "raise model.llama.max_seq_len or shorten prompt + max_new_tokens");
  TORCH_CHECK(left_pad.empty() || static_cast<int64_t>(left_pad.size()) == batch,
              "left_pad needs one entry per sequence");
  const auto& w = tok_embeddings->weight;
  auto opts = w.options().requires_grad(false);
  KVCache cache;
  cache.capacity = capacity;
  for (int i = 0; i < cfg_.n_layers; ++i)
    cache.layers.push_back({at::zeros({batch, cfg_.kv_heads(), capacity, cfg_.head_dim()}, opts),
                            at::zeros({batch, cfg_.kv_heads(), capacity, cfg_.head_dim()}, opts)});
  bool any_pad = false;
  for (auto p : left_pad) any_pad = any_pad || p > 0;
  if (any_pad) {
    cache.pad = at::tensor(left_pad, at::TensorOptions().dtype(at::kLong)).to(w.device());
    auto cols = at::arange(capacity, opts.dtype(at::kLong)).unsqueeze(0);  // (1,C)
    cache.key_valid = cols.ge(cache.pad.unsqueeze(1));                     // (B,C)
  }
  return cache;
}

at::Tensor LlamaImpl::forward_cached(const at::Tensor& tokens, KVCache& cache,
                                     const std::vector<AdapterTerm>& adapters, bool last_only) {
  // tokens (B,S) -> logits (B,S|1,V)
  TORCH_CHECK(tokens.dim() == 2 && tokens.size(0) == cache.batch(), "tokens must be (",
              cache.batch(), ",S) for this cache, got ", tokens.sizes());
  const int64_t S = tokens.size(1), start = cache.length;
  if (start + S > cache.capacity)
    throw ModelError("KV cache overflow: " + std::to_string(start + S) + " columns for capacity " +
                     std::to_string(cache.capacity));
  auto positions = at::arange(start, start + S, tokens.options().dtype(at::kLong));  // (S)
  if (cache.pad.defined())
    positions = (positions.unsqueeze(0) - cache.pad.unsqueeze(1)).clamp_min(0);  // (B,S)
  auto key_valid =
      cache.key_valid.defined() ? cache.key_valid.narrow(1, 0, start + S) : at::Tensor();
  auto logits = run(tokens, positions, start, key_valid, &cache, adapters, last_only);
  cache.length = start + S;
  return logits;
}

at::Tensor LlamaImpl::run(const at::Tensor& tokens, const at::Tensor& positions, int64_t offset,
                          const at::Tensor& key_valid, KVCache* cache,
                          const std::vector<AdapterTerm>& adapters, bool last_only) {
  // tokens (B,S) -> (B,S,D) hidden -> logits (B,S|1,V) fp32
  TORCH_CHECK(adapters.empty() || adapters.size() == layers->size(),
              "adapter terms: one per layer expected");
  auto h = tok_embeddings->forward(tokens);
  const int64_t S = tokens.size(1);
  AttentionContext ctx;
  ctx.rope = rope_table(positions, cfg_.head_dim(), cfg_.rope_theta);
  ctx.offset = offset;
  ctx.mask = attention_mask(S, offset, key_valid, h.device());
  ctx.causal = offset == 0 && !key_valid.defined() && S > 1;
  static const AdapterTerm kNone;
  for (size_t i = 0; i < layers->size(); ++i) {
    ctx.cache = cache != nullptr ? &cache->layers[i] : nullptr;
    h = layer(i).forward(h, ctx, adapters.empty() ? kNone : adapters[i]);
  }
  if (last_only) h = h.narrow(1, h.size(1) - 1, 1);
  return output->forward(norm->forward(h)).to(at::kFloat);
}

void LlamaImpl::merge_lora() {
  for (size_t i = 0; i < layers->size(); ++i) {
    layer(i).attention->merge_lora();
    layer(i).feed_forward->merge_lora();
  }
}

}  // namespace ibllm::models
