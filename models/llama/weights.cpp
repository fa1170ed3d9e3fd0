// Base-weight loading: layout detection, HF -> Meta mapping, delta keys allowed to be missing.
#include "models/llama/weights.h"

#include "src/io/llama_key_map.h"

namespace ibllm::models {

LlamaLayout detect_llama_layout(const std::map<std::string, at::Tensor>& tensors) {
  return tensors.count("model.embed_tokens.weight") || tensors.count("lm_head.weight")
             ? LlamaLayout::kHuggingFace
             : LlamaLayout::kMeta;
}

io::LoadReport load_llama_base_weights(LlamaImpl& model,
                                       const std::map<std::string, at::Tensor>& tensors) {
  std::map<std::string, at::Tensor> meta;
  if (detect_llama_layout(tensors) == LlamaLayout::kHuggingFace) {
    io::LlamaKeyMapOptions km;
    km.n_heads = model.config().n_heads;
    km.n_kv_heads = model.config().kv_heads();
    meta = io::hf_to_meta_llama(tensors, km);
  } else {
    for (const auto& [k, v] : tensors)
      if (!io::is_rope_buffer(k)) meta.emplace(k, v);
  }
  io::StateDictOptions opts;
  opts.strict = true;
  opts.ignore_missing = {"*.gate", "*.bias", "*.lora_*"};
  return io::load_state_dict(model, meta, opts);
}

}  // namespace ibllm::models
