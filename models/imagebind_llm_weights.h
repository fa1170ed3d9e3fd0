// Building an ImageBind-LLM's weights from the files users bring (spec §6 assembly order):
// ImageBind towers (strict), LLaMA base (Meta or HF layout), fresh reference init of the added
// parameters, then an ImageBind-LLM checkpoint (7B.pth, 7B-pretrained.pth, an ibllm export or
// checkpoint). Unlike the reference, missing checkpoint keys are errors unless allowed by pattern,
// and a part without a file is randomly initialised only where the config says so.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/imagebind_llm.h"
#include "src/io/state_dict.h"

namespace ibllm::models {

// Reference convert_ckpt rule: every non-`image_bind.` key except LLaMA weights that do not contain
// bias, gate, lora or norm (= what 7B.pth holds: bind network, prefix_query, gates, biases, LoRA,
// norms).
bool is_delta_key(const std::string& name);
std::map<std::string, at::Tensor> delta_state(torch::nn::Module& model);

// The tensors of an ImageBind-LLM weights file or directory: `{"model": …}` .pth (7B.pth), plain
// .pth / .safetensors (legacy `llma.` prefix renamed), or an ibllm checkpoint dir (model.safetensors).
std::map<std::string, at::Tensor> read_imagebind_llm_weights(const std::string& path);

// Loads delta keys: unexpected keys, shape mismatches and missing delta keys not matched by
// `allow_missing` are errors (CheckpointError naming `what` and every key).
io::LoadReport load_delta_weights(ImageBindLlmImpl& model,
                                  const std::map<std::string, at::Tensor>& tensors,
                                  const std::vector<std::string>& allow_missing,
                                  const std::string& what);

// Identity of the LLaMA base a delta was trained on (spec §9.1: `7B.pth` on the wrong base gives
// gibberish silently): CRC-32C of a few rows of the embedding, first/last layer and output
// weights plus every shape, as hex. Exports store it; loading compares it.
std::string llama_base_identity(LlamaImpl& llama);
// The identity recorded in an ibllm export / checkpoint ("" when the file has none, e.g. 7B.pth).
std::string stored_base_identity(const std::string& path);
// Warns (returns false) when `path` records a different base than `llama` holds.
bool check_base_identity(LlamaImpl& llama, const std::string& path);

// Runs the whole assembly with `seed` for every random init; returns a human summary.
std::string initialize_model(ImageBindLlmImpl& model, const ModelInitConfig& c, uint64_t seed);

}  // namespace ibllm::models
