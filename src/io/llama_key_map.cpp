// Meta <-> HF LLaMA names. Per-layer names are matched by the longest table prefix, so
// "self_attn.q_proj.lora_A." wins over "self_attn.q_proj." when mapping back. ImageBind-LLM deltas
// get HF-style names of our own (q_proj.bias, q_proj.lora_A/B, self_attn.gate) documented in
// docs/weights.md; a round trip is the identity.
#include "src/io/llama_key_map.h"

#include <ATen/ATen.h>

#include <utility>

#include "src/core/error.h"

namespace ibllm::io {
namespace {

struct Pair {
  const char* meta;
  const char* hf;
};

// Inside "layers.{i}." (Meta) / "model.layers.{i}." (HF).
constexpr Pair kLayer[] = {
    {"attention.wq.", "self_attn.q_proj."},
    {"attention.wk.", "self_attn.k_proj."},
    {"attention.wv.", "self_attn.v_proj."},
    {"attention.wo.", "self_attn.o_proj."},
    {"attention.lora_wq_l1.", "self_attn.q_proj.lora_A."},
    {"attention.lora_wq_l2.", "self_attn.q_proj.lora_B."},
    {"attention.lora_wk_l1.", "self_attn.k_proj.lora_A."},
    {"attention.lora_wk_l2.", "self_attn.k_proj.lora_B."},
    {"attention.lora_wv_l1.", "self_attn.v_proj.lora_A."},
    {"attention.lora_wv_l2.", "self_attn.v_proj.lora_B."},
    {"attention.lora_wo_l1.", "self_attn.o_proj.lora_A."},
    {"attention.lora_wo_l2.", "self_attn.o_proj.lora_B."},
    {"attention.gate", "self_attn.gate"},
    {"feed_forward.w1.", "mlp.gate_proj."},
    {"feed_forward.w2.", "mlp.down_proj."},
    {"feed_forward.w3.", "mlp.up_proj."},
    {"feed_forward.lora_w1_l1.", "mlp.gate_proj.lora_A."},
    {"feed_forward.lora_w1_l2.", "mlp.gate_proj.lora_B."},
    {"feed_forward.lora_w2_l1.", "mlp.down_proj.lora_A."},
    {"feed_forward.lora_w2_l2.", "mlp.down_proj.lora_B."},
    {"feed_forward.lora_w3_l1.", "mlp.up_proj.lora_A."},
    {"feed_forward.lora_w3_l2.", "mlp.up_proj.lora_B."},
    {"attention_norm.", "input_layernorm."},
    {"ffn_norm.", "post_attention_layernorm."},
};
constexpr Pair kTop[] = {
    {"tok_embeddings.weight", "model.embed_tokens.weight"},
    {"norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Maps the part after the layer prefix; `to_hf` chooses the direction. Longest match wins.
c10::optional<std::string> map_layer_rest(const std::string& rest, bool to_hf) {
  const Pair* best = nullptr;
  size_t best_len = 0;
  for (const auto& p : kLayer) {
    const std::string from = to_hf ? p.meta : p.hf;
    const bool exact_only = from.back() != '.';
    const bool match = exact_only ? rest == from : starts_with(rest, from);
    if (match && from.size() > best_len) {
      best = &p;
      best_len = from.size();
    }
  }
  if (best == nullptr) return c10::nullopt;
  return std::string(to_hf ? best->hf : best->meta) + rest.substr(best_len);
}

// "layers.12.rest" -> {"12", "rest"}; false if not of that form.
bool split_layer(const std::string& key, const std::string& head, std::string& idx, std::string& rest) {
  if (!starts_with(key, head)) return false;
  const size_t dot = key.find('.', head.size());
  if (dot == std::string::npos || dot == head.size()) return false;
  idx = key.substr(head.size(), dot - head.size());
  if (idx.find_first_not_of("0123456789") != std::string::npos) return false;
  rest = key.substr(dot + 1);
  return true;
}

[[noreturn]] void unknown(const std::string& key, const char* side) {
  throw IoError(std::string("no ") + side + " LLaMA name mapping for key '" + key + "'",
                "the key map knows the LLaMA-1/2 tensors and the ImageBind-LLM deltas (docs/weights.md); "
                "select the tensors you need or convert without --map");
}

at::Tensor permute_rows(const at::Tensor& w, int64_t heads, bool to_hf) {
  TORCH_CHECK(w.dim() >= 1, "q/k row permutation needs at least 1 dimension");
  const int64_t rows = w.size(0);
  if (heads <= 0 || rows % (2 * heads) != 0) {
    throw IoError("cannot permute " + std::to_string(rows) + " rows into " + std::to_string(heads) +
                      " heads of even size",
                  "check n_heads / n_kv_heads for this checkpoint");
  }
  const int64_t half = rows / heads / 2;
  const int64_t rest = rows == 0 ? 0 : w.numel() / rows;
  // Meta rows within a head are (i, t) = 2i + t; HF rows are (t, i) = t*hd/2 + i.
  const auto v = to_hf ? w.reshape({heads, half, 2, rest}) : w.reshape({heads, 2, half, rest});
  return v.transpose(1, 2).reshape(w.sizes()).contiguous();
}

}  // namespace

bool is_rope_buffer(const std::string& key) {
  auto ends = [&](const std::string& s) {
    return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
  };
  return key == "rope.freqs" || ends(".rope.freqs") || ends("rotary_emb.inv_freq");
}

c10::optional<std::string> meta_to_hf_key(const std::string& key, const std::string& meta_prefix) {
  if (!starts_with(key, meta_prefix)) return key;  // not a LLaMA key: pass through
  const std::string k = key.substr(meta_prefix.size());
  if (is_rope_buffer(k)) return c10::nullopt;
  for (const auto& p : kTop) {
    if (k == p.meta) return std::string(p.hf);
  }
  std::string idx, rest;
  if (split_layer(k, "layers.", idx, rest)) {
    if (auto r = map_layer_rest(rest, true)) return "model.layers." + idx + "." + *r;
  }
  unknown(key, "Meta -> HF");
}

c10::optional<std::string> hf_to_meta_key(const std::string& key, const std::string& meta_prefix) {
  if (!starts_with(key, "model.") && !starts_with(key, "lm_head.")) return key;  // pass through
  if (is_rope_buffer(key)) return c10::nullopt;
  for (const auto& p : kTop) {
    if (key == p.hf) return meta_prefix + p.meta;
  }
  std::string idx, rest;
  if (split_layer(key, "model.layers.", idx, rest)) {
    if (auto r = map_layer_rest(rest, false)) return meta_prefix + "layers." + idx + "." + *r;
  }
  unknown(key, "HF -> Meta");
}

int64_t qk_permutation_heads(const std::string& meta_key, const LlamaKeyMapOptions& o) {
  if (!starts_with(meta_key, o.meta_prefix)) return 0;
  std::string idx, rest;
  if (!split_layer(meta_key.substr(o.meta_prefix.size()), "layers.", idx, rest)) return 0;
  const bool q = starts_with(rest, "attention.wq.") || starts_with(rest, "attention.lora_wq_l2.");
  const bool k = starts_with(rest, "attention.wk.") || starts_with(rest, "attention.lora_wk_l2.");
  if (!q && !k) return 0;
  if (o.n_heads <= 0) {
    throw IoError("mapping '" + meta_key + "' needs the number of attention heads",
                  "set n_heads (32 for LLaMA-7B; read from params.json / config.json when present)");
  }
  return q ? o.n_heads : (o.n_kv_heads > 0 ? o.n_kv_heads : o.n_heads);
}

at::Tensor meta_to_hf_rows(const at::Tensor& w, int64_t heads) { return permute_rows(w, heads, true); }
at::Tensor hf_to_meta_rows(const at::Tensor& w, int64_t heads) { return permute_rows(w, heads, false); }

c10::optional<std::pair<std::string, at::Tensor>> meta_to_hf_entry(const std::string& key, const at::Tensor& t,
                                                                  const LlamaKeyMapOptions& o) {
  auto name = meta_to_hf_key(key, o.meta_prefix);
  if (!name) return c10::nullopt;
  const int64_t heads = qk_permutation_heads(key, o);
  return std::make_pair(*name, heads > 0 ? meta_to_hf_rows(t, heads) : t);
}

c10::optional<std::pair<std::string, at::Tensor>> hf_to_meta_entry(const std::string& key, const at::Tensor& t,
                                                                  const LlamaKeyMapOptions& o) {
  auto name = hf_to_meta_key(key, o.meta_prefix);
  if (!name) return c10::nullopt;
  const int64_t heads = qk_permutation_heads(*name, o);
  return std::make_pair(*name, heads > 0 ? hf_to_meta_rows(t, heads) : t);
}

namespace {
template <typename Fn>
std::map<std::string, at::Tensor> map_all(const std::map<std::string, at::Tensor>& in, Fn fn) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, v] : in) {
    auto e = fn(k, v);
    if (!e) continue;
    if (!out.emplace(e->first, e->second).second) {
      throw IoError("two tensors map to '" + e->first + "' (second from '" + k + "')");
    }
  }
  return out;
}
}  // namespace

std::map<std::string, at::Tensor> meta_to_hf_llama(const std::map<std::string, at::Tensor>& meta,
                                                   const LlamaKeyMapOptions& o) {
  return map_all(meta, [&](const std::string& k, const at::Tensor& v) { return meta_to_hf_entry(k, v, o); });
}

std::map<std::string, at::Tensor> hf_to_meta_llama(const std::map<std::string, at::Tensor>& hf,
                                                   const LlamaKeyMapOptions& o) {
  return map_all(hf, [&](const std::string& k, const at::Tensor& v) { return hf_to_meta_entry(k, v, o); });
}

std::string rename_legacy_llma(const std::string& key) {
  return starts_with(key, "llma.") ? "llama." + key.substr(5) : key;
}

std::map<std::string, at::Tensor> rename_legacy_llma(const std::map<std::string, at::Tensor>& tensors) {
  return map_all(tensors, [](const std::string& k, const at::Tensor& v) {
    return c10::optional<std::pair<std::string, at::Tensor>>(std::make_pair(rename_legacy_llma(k), v));
  });
}

int64_t meta_shard_dim(const std::string& key) {
  if (key == "tok_embeddings.weight") return 1;  // ParallelEmbedding splits the embedding dim
  if (key == "output.weight") return 0;
  if (key == "norm.weight" || is_rope_buffer(key)) return -1;
  std::string idx, rest;
  if (split_layer(key, "layers.", idx, rest)) {
    if (rest == "attention.wq.weight" || rest == "attention.wk.weight" || rest == "attention.wv.weight" ||
        rest == "feed_forward.w1.weight" || rest == "feed_forward.w3.weight") {
      return 0;  // ColumnParallelLinear: output rows split
    }
    if (rest == "attention.wo.weight" || rest == "feed_forward.w2.weight") return 1;  // RowParallel
    if (rest == "attention_norm.weight" || rest == "ffn_norm.weight") return -1;
  }
  throw IoError("no model-parallel merge rule for Meta key '" + key + "'",
                "only base LLaMA tensors are sharded; merge ImageBind-LLM deltas separately");
}

at::Tensor merge_meta_shard_tensor(const std::string& key, const std::vector<at::Tensor>& parts) {
  if (parts.empty()) throw IoError("no shards to merge for '" + key + "'");
  if (parts.size() == 1) return parts[0];
  const int64_t dim = meta_shard_dim(key);
  if (dim < 0) {
    for (size_t s = 1; s < parts.size(); ++s) {
      if (!at::equal(parts[s], parts[0])) {
        throw IoError("replicated tensor '" + key + "' differs between shard 0 and shard " + std::to_string(s),
                      "the shards come from different checkpoints");
      }
    }
    return parts[0];
  }
  for (const auto& p : parts) {
    if (p.dim() <= dim) throw IoError("shard of '" + key + "' has too few dimensions to merge");
  }
  return at::cat(parts, dim);
}

std::map<std::string, at::Tensor> merge_meta_shards(const std::vector<std::map<std::string, at::Tensor>>& shards) {
  if (shards.empty()) throw IoError("merge_meta_shards: no shards given");
  std::map<std::string, at::Tensor> out;
  for (const auto& [key, first] : shards[0]) {
    std::vector<at::Tensor> parts{first};
    for (size_t s = 1; s < shards.size(); ++s) {
      auto it = shards[s].find(key);
      if (it == shards[s].end()) {
        throw IoError("tensor '" + key + "' is in shard 0 but missing from shard " + std::to_string(s));
      }
      parts.push_back(it->second);
    }
    out.emplace(key, merge_meta_shard_tensor(key, parts));
  }
  for (size_t s = 1; s < shards.size(); ++s) {
    for (const auto& [key, t] : shards[s]) {
      if (!shards[0].count(key)) {
        throw IoError("tensor '" + key + "' is in shard " + std::to_string(s) + " but not in shard 0");
      }
    }
  }
  return out;
}

}  // namespace ibllm::io
