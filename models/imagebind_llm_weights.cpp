// Assembly of an ImageBind-LLM from weight files; see imagebind_llm_weights.h.
#include "models/imagebind_llm_weights.h"

#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "models/imagebind/imagebind_weights.h"
#include "models/llama/weights.h"
#include "src/config/section.h"
#include "src/core/error.h"
#include "src/io/weights_reader.h"

namespace ibllm::models {

ModelInitConfig parse_model_init_config(config::Section s) {
  ModelInitConfig c;
  s.field("imagebind", c.imagebind);
  s.field("llama", c.llama);
  s.field("checkpoint", c.checkpoint);
  s.field("allow_missing", c.allow_missing);
  s.field("random_base", c.random_base);
  return c;
}

bool is_delta_key(const std::string& name) {
  if (name.rfind("image_bind.", 0) == 0) return false;
  if (name.rfind("llama.", 0) != 0) return true;
  for (const char* w : {"bias", "gate", "lora", "norm"})
    if (name.find(w) != std::string::npos) return true;
  return false;
}

std::map<std::string, at::Tensor> delta_state(torch::nn::Module& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model.named_parameters(true))
    if (is_delta_key(p.key())) out.emplace(p.key(), p.value().detach());
  return out;
}

std::map<std::string, at::Tensor> read_imagebind_llm_weights(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  if (fs::is_directory(path)) {
    file = (fs::path(path) / "model.safetensors").string();
    if (!fs::exists(file))
      throw CheckpointError(path + ": directory without model.safetensors",
                            "pass an ibllm checkpoint directory, a .pth or a .safetensors file");
  } else if (!fs::exists(path)) {
    throw CheckpointError(path + ": no such file", "check model.init.checkpoint / --checkpoint");
  }
  auto raw = io::read_weights(file);
  bool wrapped = !raw.empty();
  for (const auto& kv : raw) wrapped = wrapped && kv.first.rfind("model/", 0) == 0;
  std::map<std::string, at::Tensor> out;
  for (auto& [k, v] : raw) {
    std::string key = wrapped ? k.substr(6) : k;
    if (key.rfind("llma.", 0) == 0) key = "llama." + key.substr(5);  // early checkpoints
    if (key.find('/') != std::string::npos)
      throw CheckpointError(file + ": entry '" + k + "' is not a tensor of a flat state dict",
                            "expected {\"model\": {name: tensor}} or {name: tensor}");
    out.emplace(key, v);
  }
  return out;
}

io::LoadReport load_delta_weights(ImageBindLlmImpl& model,
                                  const std::map<std::string, at::Tensor>& tensors,
                                  const std::vector<std::string>& allow_missing,
                                  const std::string& what) {
  io::StateDictOptions o;
  o.strict = true;
  // Frozen tower and base keys are never expected from an ImageBind-LLM checkpoint.
  o.ignore_missing = {"image_bind.*", "llama.tok_embeddings.weight", "llama.output.weight"};
  for (const char* w : {"wq", "wk", "wv", "wo"})
    o.ignore_missing.push_back(std::string("llama.layers.*.attention.") + w + ".weight");
  for (const char* w : {"w1", "w2", "w3"})
    o.ignore_missing.push_back(std::string("llama.layers.*.feed_forward.") + w + ".weight");
  o.ignore_missing.insert(o.ignore_missing.end(), allow_missing.begin(), allow_missing.end());
  auto report = io::check_state_dict(model, tensors, o);
  if (!report.ok(true))
    throw CheckpointError(what + ": does not match this model\n" + report.summary(),
                          "missing delta keys can be allowed with model.init.allow_missing "
                          "(they keep their fresh init); check model.llama.w_bias/w_lora and "
                          "model.bind.legacy against the checkpoint");
  return io::load_state_dict(model, tensors, o);
}

std::string initialize_model(ImageBindLlmImpl& model, const ModelInitConfig& c, uint64_t seed) {
  std::ostringstream s;
  if ((c.imagebind.empty() && model.image_bind) || c.llama.empty()) {
    if (!c.random_base)
      throw ConfigError(
          std::string("model.init: no ") +
              (c.llama.empty() ? "model.init.llama (LLaMA base weights)"
                               : "model.init.imagebind (ImageBind weights)") +
              " given",
          "point it at the weight files, or set model.init.random_base: true for a "
          "randomly initialised model (tests and benchmarks only)");
  }
  at::manual_seed(seed);
  if (model.image_bind) {
    if (c.imagebind.empty()) {
      model.image_bind->reset_parameters();
      s << "imagebind: random init (seed " << seed << ")\n";
    } else {
      auto r = load_imagebind_weights(*model.image_bind, c.imagebind);
      s << "imagebind: " << c.imagebind << " (" << r.loaded.size() << " tensors)\n";
    }
  }
  if (c.llama.empty()) {
    model.llama->reset_parameters();
    s << "llama: random init (seed " << seed << ")\n";
  } else {
    auto tensors = io::read_weights(c.llama);
    // An ibllm merged export holds the whole composite: take its `llama.` entries.
    if (tensors.count("llama.tok_embeddings.weight")) {
      std::map<std::string, at::Tensor> sub;
      for (auto& [k, v] : tensors)
        if (k.rfind("llama.", 0) == 0) sub.emplace(k.substr(6), v);
      tensors.swap(sub);
    }
    auto r = load_llama_base_weights(*model.llama, tensors);
    s << "llama: " << c.llama << " (" << r.loaded.size() << " tensors)\n";
  }
  // The added parameters draw from their own seeded stream, so they do not depend on whether the
  // towers were loaded or random.
  at::manual_seed(seed + 1);
  model.reset_added_parameters();
  s << "bind network, prefix_query, gates, biases, LoRA: reference init";
  if (!c.checkpoint.empty()) {
    auto r = load_delta_weights(model, read_imagebind_llm_weights(c.checkpoint), c.allow_missing,
                                c.checkpoint);
    s << "\ncheckpoint: " << c.checkpoint << " (" << r.loaded.size() << " tensors";
    if (!r.ignored.empty()) s << ", " << r.ignored.size() << " allowed missing";
    s << ")";
  }
  return s.str();
}

}  // namespace ibllm::models
