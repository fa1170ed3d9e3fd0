// Assembly of an ImageBind-LLM from weight files; see imagebind_llm_weights.h.
#include "models/imagebind_llm_weights.h"

#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>
#include <torch/nn/module.h>

#include "models/imagebind/imagebind_weights.h"
#include "models/llama/weights.h"
#include "src/core/error.h"
#include "src/core/crc32c.h"
#include "src/io/safetensors.h"
#include "src/io/weights_reader.h"

namespace ibllm::models {

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

std::string llama_base_identity(LlamaImpl& llama) {
  at::NoGradGuard guard;
  uint32_t crc = 0;
  auto add = [&](const at::Tensor& t) {
    auto v = t.detach().to(at::kCPU, at::kFloat).contiguous();
    crc = core::crc32c(v.data_ptr(), static_cast<size_t>(v.numel()) * sizeof(float), crc);
  };
  auto rows = [](const at::Tensor& w) { return w.narrow(0, 0, std::min<int64_t>(w.size(0), 4)); };
  const auto& p = llama.named_parameters(true);
  for (const char* k : {"tok_embeddings.weight", "output.weight"})
    if (auto* t = p.find(k)) add(rows(*t));
  const std::string last = "layers." + std::to_string(llama.config().n_layers - 1) + ".";
  for (const std::string& k : {std::string("layers.0.attention.wq.weight"),
                               last + "feed_forward.w2.weight"})
    if (auto* t = p.find(k)) add(rows(*t));
  std::string shapes;
  for (const auto& kv : p) {
    if (is_delta_key("llama." + kv.key())) continue;  // base weights only
    shapes += kv.key() + ":";
    for (auto d : kv.value().sizes()) shapes += std::to_string(d) + ",";
  }
  crc = core::crc32c(shapes.data(), shapes.size(), crc);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

std::string stored_base_identity(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  if (fs::is_directory(path)) file = (fs::path(path) / "model.safetensors").string();
  if (!fs::is_regular_file(file) || io::detect_weights_format(file) != io::WeightsFormat::kSafetensors)
    return "";
  io::SafetensorsFile f(file);
  auto it = f.metadata().find("llama_base_identity");
  return it == f.metadata().end() ? "" : it->second;
}

bool check_base_identity(LlamaImpl& llama, const std::string& path) {
  const std::string stored = stored_base_identity(path);
  if (stored.empty()) return true;
  const std::string mine = llama_base_identity(llama);
  if (stored == mine) return true;
  spdlog::warn("{} was trained on a different LLaMA base (identity {}, this model's base {}): "
               "answers will likely be gibberish. Point model.init.llama at the base it was "
               "trained on (the export's merged.manifest.json / info metadata names it).",
               path, stored, mine);
  return false;
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
    check_base_identity(*model.llama, c.checkpoint);
    s << "\ncheckpoint: " << c.checkpoint << " (" << r.loaded.size() << " tensors";
    if (!r.ignored.empty()) s << ", " << r.ignored.size() << " allowed missing";
    s << ")";
  }
  return s.str();
}

}  // namespace ibllm::models
