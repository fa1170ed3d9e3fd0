// LlamaConfig: the shape and PEFT switches of a LLaMA decoder (spec §2.1, §3.3, §3.4), its presets,
// the YAML parser and readers for Meta `params.json` and Hugging Face `config.json`.
// Defaults are LLaMA-7B as ImageBind-LLM uses it (norm_eps 1e-6, max_seq_len 512). Torch-free on
// purpose: the CLI and config checks include it without paying for the torch headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/core/choice_table.h"

namespace ibllm::config {
class Section;
}

namespace ibllm::models {

// model.llama.attention: kAuto and kSdpa use at::scaled_dot_product_attention, kMath the exact
// fp32-softmax path (models/llama/attention.h).
enum class AttentionChoice { kAuto, kSdpa, kMath };
const core::ChoiceTable<AttentionChoice>& attention_choice_names();  // auto, sdpa, math

// model.llama.fused_kernels: our CUDA kernels for RMSNorm, RoPE and the SwiGLU gate
// (models/kernels/fused_ops.h). kOff: the reference ATen ops everywhere (the default until the
// kernels have passed their [cuda] tests on a GPU); kAuto: fused for CUDA tensors of fp32/bf16, the
// reference ops otherwise; kOn: like auto, but a run whose device is not CUDA is a config error.
enum class FusedKernels { kAuto, kOff, kOn };
const core::ChoiceTable<FusedKernels>& fused_kernels_names();  // auto, off, on

struct LlamaConfig {
  int dim = 4096;
  int n_layers = 32;
  int n_heads = 32;
  int n_kv_heads = 0;  // 0: same as n_heads (no grouped-query attention)
  int vocab_size = 32000;
  int multiple_of = 256;
  double ffn_dim_multiplier = 0.0;  // 0: unset (Meta's None)
  int ffn_hidden_dim = 0;  // 0: derived by the SwiGLU rule; >0: explicit (HF intermediate_size)
  double norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int max_seq_len = 512;        // longest sequence (prompt + generation) the model accepts
  bool gated_injection = true;  // per-layer `attention.gate` (1,H,1,1) for the adapter input
  bool w_bias = false;          // bias tuning: wq, wo, w1, w2, w3 biases (zero-init)
  bool w_lora = false;          // LoRA on wq wk wv wo w1 w2 w3
  int lora_rank = 16;
  double lora_alpha = 0.0;  // 0: reference semantics (delta = B·A·x); >0: scaled by alpha/rank
  AttentionChoice attention = AttentionChoice::kAuto;
  FusedKernels fused_kernels = FusedKernels::kOff;

  int kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  int head_dim() const { return dim / n_heads; }
  // SwiGLU width: floor(2·4·dim/3), times ffn_dim_multiplier, rounded up to multiple_of.
  int ffn_hidden() const;
  double lora_scale() const { return lora_alpha > 0.0 ? lora_alpha / lora_rank : 1.0; }
  // Throws ConfigError naming the first inconsistency (dim % n_heads, n_heads % n_kv_heads, ...).
  void validate() const;
};

// Sampling options of generate() (spec §5.1 defaults: T 0.1, top-p 0.75, 256 new tokens; the
// reference calls the length max_gen_len). One struct for the `generation:` section, the generate
// command's flags and its request lines; sampling_problems() is their one range check.
struct GenerationConfig {
  int max_new_tokens = 256;
  double temperature = 0.1;  // 0: greedy (argmax)
  double top_p = 0.75;
  int64_t seed = 0;    // sequence i of a batch samples with seed + i
  int64_t eos_id = 2;  // from the tokenizer, not from YAML
  int64_t pad_id = 0;  // id fed in padding columns (never attended to)
};

// "7B", "13B" (LLaMA-1 shapes, ImageBind-LLM's max_seq_len 512) or "tiny" (the golden-test model).
LlamaConfig llama_preset(const std::string& name);

// Meta params.json: dim, n_layers, n_heads, n_kv_heads, vocab_size (-1 keeps base), multiple_of,
// ffn_dim_multiplier, norm_eps, rope_theta. Keys not present keep the value from `base`.
LlamaConfig read_meta_params(const std::string& path, LlamaConfig base = {});
// HF config.json (model_type llama): hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, intermediate_size, rms_norm_eps, rope_theta, vocab_size,
// max_position_embeddings (only if larger than base.max_seq_len is wanted: it is copied as is).
LlamaConfig read_hf_config(const std::string& path, LlamaConfig base = {});
// Either of the two, chosen by the file's keys (`hidden_size` ⇒ HF).
LlamaConfig read_llama_params_file(const std::string& path, LlamaConfig base = {});

// YAML section `model.llama`: optional `preset` and `params_file` give the starting point, then
// every field above may be set explicitly.
LlamaConfig parse_llama_config(config::Section s);
// YAML section `generation:` — max_new_tokens, temperature, top_p, seed (eos/pad ids come from the
// tokenizer); the old key max_gen_len is an error naming its new name.
GenerationConfig parse_generation_config(config::Section s);

// A sampling setting out of range: its key as the YAML section and request lines spell it
// (`top_p`; the generate flag is `--top-p`, see sampling_flag) and "value 0 is out of range (0, 1]".
struct SamplingProblem {
  std::string key;
  std::string message;
};
// The ranges, in one place: max_new_tokens >= 1, temperature >= 0, top_p in (0, 1], seed >= 0.
std::vector<SamplingProblem> sampling_problems(const GenerationConfig& g);
// "top_p" -> "--top-p".
std::string sampling_flag(const std::string& key);

}  // namespace ibllm::models
