// The one mapping table for a foreign layout: Meta LLaMA (`consolidated.*.pth`, and the `llama.`
// part of ImageBind-LLM checkpoints) <-> Hugging Face LlamaForCausalLM names, including the q/k
// row permutation that lets rotate-half RoPE reproduce Meta's interleaved RoPE (spec §2.3), applied
// also to the ImageBind-LLM deltas on Wq/Wk output rows (wq.bias, lora_wq_l2, lora_wk_l2). RoPE
// buffers are dropped, legacy "llma." is renamed, and model-parallel Meta shards are merged.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <map>
#include <string>
#include <vector>

namespace ibllm::io {

struct LlamaKeyMapOptions {
  int64_t n_heads = 0;     // query heads (32 for 7B); required when q/k tensors are mapped
  int64_t n_kv_heads = 0;  // key/value heads; 0 = n_heads (no GQA)
  // Prefix of the LLaMA keys on the Meta side ("llama." in ImageBind-LLM checkpoints, "" for
  // consolidated.*.pth). Meta-side keys outside it (image_bind_*, prefix_query) pass through.
  std::string meta_prefix;
};

// Key translation. nullopt = a RoPE buffer that is dropped. Keys outside the LLaMA namespace pass
// through unchanged; an unknown key inside it throws IoError naming it.
c10::optional<std::string> meta_to_hf_key(const std::string& key, const std::string& meta_prefix = "");
c10::optional<std::string> hf_to_meta_key(const std::string& key, const std::string& meta_prefix = "");

// `rope.freqs`, `...inner_attention.rope.freqs`, `...rotary_emb.inv_freq`.
bool is_rope_buffer(const std::string& key);

// Number of heads whose rows a Meta-side key needs permuted (0 = not a q/k output-row tensor).
int64_t qk_permutation_heads(const std::string& meta_key, const LlamaKeyMapOptions& options);

// HF_row(h*hd + t*hd/2 + i) = Meta_row(h*hd + 2i + t), per head h, i < hd/2, t in {0,1}; works on
// weights (rows, cols), biases (rows) and LoRA B matrices (rows, r).
at::Tensor meta_to_hf_rows(const at::Tensor& w, int64_t heads);
at::Tensor hf_to_meta_rows(const at::Tensor& w, int64_t heads);

// One tensor at a time (for streaming conversion): the new name (nullopt = drop) and the tensor.
c10::optional<std::pair<std::string, at::Tensor>> meta_to_hf_entry(const std::string& key, const at::Tensor& t,
                                                                  const LlamaKeyMapOptions& options);
c10::optional<std::pair<std::string, at::Tensor>> hf_to_meta_entry(const std::string& key, const at::Tensor& t,
                                                                  const LlamaKeyMapOptions& options);

std::map<std::string, at::Tensor> meta_to_hf_llama(const std::map<std::string, at::Tensor>& meta,
                                                   const LlamaKeyMapOptions& options);
std::map<std::string, at::Tensor> hf_to_meta_llama(const std::map<std::string, at::Tensor>& hf,
                                                   const LlamaKeyMapOptions& options);

// Older ImageBind-LLM training checkpoints spell the LLaMA prefix "llma.".
std::string rename_legacy_llma(const std::string& key);
std::map<std::string, at::Tensor> rename_legacy_llma(const std::map<std::string, at::Tensor>& tensors);

// Model-parallel Meta checkpoints (13B: consolidated.00/01.pth): embeddings split along columns,
// wq/wk/wv/w1/w3/output along rows, wo/w2 along columns, norms and rope.freqs replicated.
// The dimension along which `key` is split, or -1 when replicated; throws for unknown keys.
int64_t meta_shard_dim(const std::string& key);
at::Tensor merge_meta_shard_tensor(const std::string& key, const std::vector<at::Tensor>& parts);
std::map<std::string, at::Tensor> merge_meta_shards(const std::vector<std::map<std::string, at::Tensor>>& shards);

}  // namespace ibllm::io
