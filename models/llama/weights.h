// Loading LLaMA base weights (spec §2.3, §6) into a Llama: Meta layout (`consolidated.*.pth` keys)
// or Hugging Face layout (detected by `model.embed_tokens.weight`, mapped and q/k-unpermuted by
// src/io/llama_key_map). Base keys are strict; the ImageBind-LLM deltas (biases, LoRA, gates) may
// be absent because base checkpoints never hold them; RoPE buffers are dropped.
#pragma once

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "models/llama/llama.h"
#include "src/io/state_dict.h"

namespace ibllm::models {

enum class LlamaLayout { kMeta, kHuggingFace };

// kHuggingFace when the map holds `model.embed_tokens.weight` or `lm_head.weight`.
LlamaLayout detect_llama_layout(const std::map<std::string, at::Tensor>& tensors);

// Converts to Meta keys if needed, then loads (casting to each parameter's dtype/device). Throws
// CheckpointError listing every missing base key, unexpected key and shape mismatch.
io::LoadReport load_llama_base_weights(LlamaImpl& model,
                                       const std::map<std::string, at::Tensor>& tensors);

}  // namespace ibllm::models
