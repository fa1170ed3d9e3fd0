// LlamaConfig presets, validation, YAML parsing and the params.json / config.json readers.
// The readers accept exactly the keys the official files use; a present key with the wrong type is
// an error naming the file and key (a silently ignored typo would build a different model).
#include "models/llama/config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "src/config/section.h"
#include "src/core/error.h"

namespace ibllm::models {

const core::ChoiceTable<AttentionChoice>& attention_choice_names() {
  static const core::ChoiceTable<AttentionChoice> t = {{"auto", AttentionChoice::kAuto},
                                                       {"sdpa", AttentionChoice::kSdpa},
                                                       {"math", AttentionChoice::kMath}};
  return t;
}

const core::ChoiceTable<FusedKernels>& fused_kernels_names() {
  static const core::ChoiceTable<FusedKernels> t = {
      {"auto", FusedKernels::kAuto}, {"off", FusedKernels::kOff}, {"on", FusedKernels::kOn}};
  return t;
}

int LlamaConfig::ffn_hidden() const {
  if (ffn_hidden_dim > 0) return ffn_hidden_dim;
  int64_t h = 2 * (4 * static_cast<int64_t>(dim)) / 3;
  if (ffn_dim_multiplier > 0.0)
    h = static_cast<int64_t>(ffn_dim_multiplier * static_cast<double>(h));
  return static_cast<int>(multiple_of * ((h + multiple_of - 1) / multiple_of));
}

void LlamaConfig::validate() const {
  auto bad = [](const std::string& m) {
    throw ConfigError("invalid LLaMA config: " + m, "check model.llama in the config");
  };
  if (dim < 1 || n_layers < 1 || n_heads < 1 || vocab_size < 1 || multiple_of < 1 ||
      max_seq_len < 1 || lora_rank < 1)
    bad("dim, n_layers, n_heads, vocab_size, multiple_of, max_seq_len and lora_rank must be >= 1");
  if (dim % n_heads != 0)
    bad("dim " + std::to_string(dim) + " is not divisible by n_heads " + std::to_string(n_heads));
  if (head_dim() % 2 != 0) bad("head dim " + std::to_string(head_dim()) + " must be even for RoPE");
  if (n_kv_heads < 0 || n_heads % kv_heads() != 0)
    bad("n_heads " + std::to_string(n_heads) + " is not a multiple of n_kv_heads " +
        std::to_string(n_kv_heads));
  if (!(norm_eps > 0.0) || !(rope_theta > 0.0)) bad("norm_eps and rope_theta must be > 0");
  if (ffn_dim_multiplier < 0.0 || lora_alpha < 0.0 || ffn_hidden_dim < 0)
    bad("ffn_dim_multiplier, ffn_hidden_dim and lora_alpha must be >= 0 (0 = unset)");
}

LlamaConfig llama_preset(const std::string& name) {
  LlamaConfig c;  // member defaults are LLaMA-7B
  if (name == "7B") return c;
  if (name == "13B") {
    c.dim = 5120;
    c.n_layers = 40;
    c.n_heads = 40;
    return c;
  }
  if (name == "tiny") {
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 64;
    c.multiple_of = 16;
    c.max_seq_len = 32;
    c.lora_rank = 4;
    return c;
  }
  throw ConfigError("unknown LLaMA preset '" + name + "'", "known presets: 7B, 13B, tiny");
}

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open LLaMA params file " + path, "check the path");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw IoError("malformed JSON in " + path + ": " + e.what());
  }
}

template <class T>
void take(const nlohmann::json& j, const char* key, T& out, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number())
    throw IoError(std::string("key '") + key + "' in " + path + " is not a number: " + it->dump());
  out = it->get<T>();
}

}  // namespace

LlamaConfig read_meta_params(const std::string& path, LlamaConfig base) {
  auto j = read_json(path);
  take(j, "dim", base.dim, path);
  take(j, "n_layers", base.n_layers, path);
  take(j, "n_heads", base.n_heads, path);
  take(j, "n_kv_heads", base.n_kv_heads, path);
  int vocab = -1;
  take(j, "vocab_size", vocab, path);
  if (vocab > 0) base.vocab_size = vocab;  // Meta writes -1: "from the tokenizer"
  take(j, "multiple_of", base.multiple_of, path);
  take(j, "ffn_dim_multiplier", base.ffn_dim_multiplier, path);
  take(j, "norm_eps", base.norm_eps, path);
  take(j, "rope_theta", base.rope_theta, path);
  base.ffn_hidden_dim = 0;
  base.validate();
  return base;
}

LlamaConfig read_hf_config(const std::string& path, LlamaConfig base) {
  auto j = read_json(path);
  if (j.contains("model_type") && j["model_type"] != "llama")
    throw IoError("config " + path + " has model_type " + j["model_type"].dump() + ", not llama");
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"] == true)
    throw IoError("config " + path + " ties the embeddings; LLaMA's output.weight is separate");
  take(j, "hidden_size", base.dim, path);
  take(j, "num_hidden_layers", base.n_layers, path);
  take(j, "num_attention_heads", base.n_heads, path);
  base.n_kv_heads = 0;
  take(j, "num_key_value_heads", base.n_kv_heads, path);
  take(j, "intermediate_size", base.ffn_hidden_dim, path);
  take(j, "rms_norm_eps", base.norm_eps, path);
  take(j, "rope_theta", base.rope_theta, path);
  take(j, "vocab_size", base.vocab_size, path);
  take(j, "max_position_embeddings", base.max_seq_len, path);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    throw IoError("config " + path + " uses rope_scaling, which this LLaMA does not implement");
  base.validate();
  return base;
}

LlamaConfig read_llama_params_file(const std::string& path, LlamaConfig base) {
  auto j = read_json(path);
  return j.contains("hidden_size") ? read_hf_config(path, base) : read_meta_params(path, base);
}

LlamaConfig parse_llama_config(config::Section s) {
  LlamaConfig c;
  std::string preset, params_file;
  s.field("preset", preset);
  s.field("params_file", params_file);
  if (!preset.empty()) {
    try {
      c = llama_preset(preset);
    } catch (const Error& e) {
      s.fail("preset", e.what());
    }
  }
  if (!params_file.empty()) {
    try {
      c = read_llama_params_file(params_file, c);
    } catch (const Error& e) {
      s.fail("params_file", e.what());
    }
  }
  s.field("dim", c.dim, config::at_least(1));
  s.field("n_layers", c.n_layers, config::at_least(1));
  s.field("n_heads", c.n_heads, config::at_least(1));
  s.field("n_kv_heads", c.n_kv_heads, config::at_least(0));
  s.field("vocab_size", c.vocab_size, config::at_least(1));
  s.field("multiple_of", c.multiple_of, config::at_least(1));
  s.field("ffn_dim_multiplier", c.ffn_dim_multiplier, config::at_least(0));
  s.field("ffn_hidden_dim", c.ffn_hidden_dim, config::at_least(0));
  s.field("norm_eps", c.norm_eps, config::positive());
  s.field("rope_theta", c.rope_theta, config::positive());
  s.field("max_seq_len", c.max_seq_len, config::at_least(1));
  s.field("gated_injection", c.gated_injection);
  s.field("w_bias", c.w_bias);
  s.field("w_lora", c.w_lora);
  s.field("lora_rank", c.lora_rank, config::at_least(1));
  s.field("lora_alpha", c.lora_alpha, config::at_least(0));
  s.choice("attention", c.attention, attention_choice_names());
  s.choice("fused_kernels", c.fused_kernels, fused_kernels_names());
  if (c.n_heads > 0 && c.dim % c.n_heads != 0)
    s.fail("n_heads", "dim " + std::to_string(c.dim) + " is not divisible by n_heads " +
                          std::to_string(c.n_heads));
  else if (c.n_heads > 0 && (c.dim / c.n_heads) % 2 != 0)
    s.fail("n_heads", "head dim dim/n_heads must be even for RoPE");
  if (c.n_kv_heads > 0 && c.n_heads % c.n_kv_heads != 0)
    s.fail("n_kv_heads", "n_heads " + std::to_string(c.n_heads) + " is not a multiple of " +
                             std::to_string(c.n_kv_heads));
  return c;
}

namespace {

struct SamplingRange {
  const char* key;
  config::Bounds bounds;
  double (*get)(const GenerationConfig&);
};

const std::vector<SamplingRange>& sampling_ranges() {
  static const std::vector<SamplingRange> r = {
      {"max_new_tokens", config::at_least(1),
       [](const GenerationConfig& g) { return static_cast<double>(g.max_new_tokens); }},
      {"temperature", config::at_least(0), [](const GenerationConfig& g) { return g.temperature; }},
      {"top_p", config::Bounds{0.0, 1.0, true, false},
       [](const GenerationConfig& g) { return g.top_p; }},
      {"seed", config::at_least(0),
       [](const GenerationConfig& g) { return static_cast<double>(g.seed); }},
  };
  return r;
}

std::string shown(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

std::vector<SamplingProblem> sampling_problems(const GenerationConfig& g) {
  std::vector<SamplingProblem> out;
  for (const auto& r : sampling_ranges()) {
    const double v = r.get(g);
    if (!r.bounds.contains(v))
      out.push_back({r.key, "value " + shown(v) + " is out of range " + r.bounds.describe()});
  }
  return out;
}

std::string sampling_flag(const std::string& key) {
  std::string f = "--" + key;
  for (auto& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

GenerationConfig parse_generation_config(config::Section s) {
  GenerationConfig g;
  s.renamed("max_gen_len", "max_new_tokens");
  s.field("max_new_tokens", g.max_new_tokens);
  s.field("temperature", g.temperature);
  s.field("top_p", g.top_p);
  s.field("seed", g.seed);
  for (const auto& p : sampling_problems(g)) s.fail(p.key, p.message);
  return g;
}

}  // namespace ibllm::models
