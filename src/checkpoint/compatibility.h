// Does a checkpoint fit the current run? The trainer describes both sides as JSON (make_signature
// for the tensors, plus whatever config fields must match: model dims, global batch, ...);
// check_compatible diffs them and throws one CheckpointError listing every difference with both
// values ("model.llama.dim: checkpoint 4096, config 32").
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace ibllm::checkpoint {

// {"tensors": {name: {"dtype": "Float", "shape": [..]}}} plus the keys of `extra` at top level.
nlohmann::json make_signature(const std::map<std::string, at::Tensor>& tensors,
                              const nlohmann::json& extra = nlohmann::json::object());

// Every difference as "path: checkpoint <saved>, config <current>" (absent values say so). Object
// keys containing '.' are quoted as ["key"] so tensor names stay readable.
std::vector<std::string> signature_differences(const nlohmann::json& saved,
                                               const nlohmann::json& current);

// Throws CheckpointError listing signature_differences (at most 20, then a count) if any.
void check_compatible(const nlohmann::json& saved_signature,
                      const nlohmann::json& current_signature);

}  // namespace ibllm::checkpoint
