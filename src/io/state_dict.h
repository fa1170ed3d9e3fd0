// Loading named tensors into a torch::nn::Module with a complete report: every missing,
// unexpected, shape-mismatched and dtype-mismatched key is collected before anything is copied, so a
// failed strict load names all problems at once and leaves the module untouched. Checkpoint keys
// can be rewritten first (strip/add prefix, prefix renames such as the legacy "llma." -> "llama.",
// glob ignores such as "*.rope.freqs"). Values are cast to each parameter's dtype and copied
// straight to its device (a mapped CPU tensor goes host -> device with no intermediate copy).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace ibllm::io {

struct PrefixRule {
  std::string from;  // a checkpoint key starting with `from` ...
  std::string to;    // ... gets that prefix replaced by `to`
};

struct StateDictOptions {
  // strict: missing or unexpected keys are errors (shape/dtype problems are errors in both modes).
  bool strict = true;
  std::string strip_prefix;            // removed from checkpoint keys that start with it
  std::vector<PrefixRule> renames;     // applied in order after strip_prefix; first match wins
  std::string add_prefix;              // prepended last
  std::vector<std::string> ignore_unexpected;  // globs (on rewritten keys) dropped silently
  std::vector<std::string> ignore_missing;     // globs of module keys that may stay absent
  bool convert_dtype = true;           // false: a dtype difference is an error, not a cast
};

struct LoadReport {
  struct Mismatch {
    std::string key;
    std::string expected;  // module side ("[4096, 4096] Half")
    std::string got;       // checkpoint side
  };
  std::vector<std::string> loaded;
  std::vector<std::string> missing;     // in the module, not in the checkpoint
  std::vector<std::string> unexpected;  // in the checkpoint, not in the module
  std::vector<std::string> ignored;     // dropped by ignore_unexpected / allowed by ignore_missing
  std::vector<Mismatch> shape_mismatch;
  std::vector<Mismatch> dtype_mismatch;  // with convert_dtype these were cast (reported, not errors)
  bool ok(bool strict) const;
  // Multi-line listing of every category, all keys (for logs and error messages).
  std::string summary() const;
};

// Applies strip_prefix, renames and add_prefix to one key.
std::string rewrite_key(const std::string& key, const StateDictOptions& options);

// Shell-style glob: '*' any run of characters (dots included), '?' one character.
bool glob_match(const std::string& pattern, const std::string& text);

// Compares without copying anything.
LoadReport check_state_dict(torch::nn::Module& module,
                            const std::map<std::string, at::Tensor>& tensors,
                            const StateDictOptions& options = {});

// Loads, or throws CheckpointError with report.summary() when !report.ok(options.strict) (then
// nothing has been copied).
LoadReport load_state_dict(torch::nn::Module& module,
                           const std::map<std::string, at::Tensor>& tensors,
                           const StateDictOptions& options = {});

// Every parameter and buffer of a module by its dotted name (what a checkpoint must provide).
std::map<std::string, at::Tensor> module_state(torch::nn::Module& module);

// Moves/casts a whole map (e.g. to the GPU in bf16 for frozen towers) one tensor at a time.
std::map<std::string, at::Tensor> to_device(const std::map<std::string, at::Tensor>& tensors,
                                            at::Device device,
                                            c10::optional<at::ScalarType> dtype = c10::nullopt);

}  // namespace ibllm::io
