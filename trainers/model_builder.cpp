// build_model / model_signature; see model_builder.h.
#include "trainers/model_builder.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <ATen/ATen.h>

#include "models/imagebind_llm_weights.h"
#include "models/kernels/fused_ops.h"
#include "src/core/error.h"
#include "src/io/state_dict.h"
#include "trainers/device_stats.h"
#include "trainers/flops.h"

namespace ibllm::train {

std::vector<NamedParameter> BuiltModel::trainable_parameters() const {
  std::set<std::string> names(trainable.names.begin(), trainable.names.end());
  std::vector<NamedParameter> out;
  for (const auto& p : model->named_parameters(true))
    if (names.count(p.key())) out.push_back({p.key(), p.value()});
  return out;
}

BuiltModel build_model(const RunConfig& c, at::Device device, bool force_random_base) {
  BuiltModel b;
  b.device = device;
  if (c.model.llama.fused_kernels == models::FusedKernels::kOn && !device.is_cuda())
    throw ConfigError(std::string("model.llama.fused_kernels is on, but the run device is the CPU") +
                          (models::fused_kernels_built() ? "" : " (this build has no CUDA kernels)"),
                      "set model.llama.fused_kernels: auto (the kernels on CUDA, the reference "
                      "ops elsewhere) or off");
  b.frozen_dtype = frozen_dtype_for(c.trainer.precision, b.device);
  b.model = models::ImageBindLlm(c.model.arch(), b.device, b.frozen_dtype);
  auto init = c.model.init;
  if (force_random_base) {
    init = {};
    init.random_base = true;
  }
  b.init_summary = models::initialize_model(*b.model, init, static_cast<uint64_t>(c.run.seed));
  b.trainable = models::apply_trainable(*b.model, c.model.trainable);
  // Frozen parts never build graphs; the towers and the base also skip autograd bookkeeping.
  b.model->train();
  return b;
}

void load_trainable_tensors(BuiltModel& m, const std::map<std::string, at::Tensor>& tensors,
                            const std::string& what) {
  // Exactly the trainable set: every other parameter or buffer may (must) be absent.
  const std::set<std::string> trainable(m.trainable.names.begin(), m.trainable.names.end());
  io::StateDictOptions o;
  for (const auto& kv : io::module_state(*m.model))
    if (!trainable.count(kv.first)) o.ignore_missing.push_back(kv.first);
  try {
    io::load_state_dict(*m.model, tensors, o);
  } catch (const CheckpointError& e) {
    throw CheckpointError(what + ": does not match the model built from this config\n" + e.what(),
                          "use the config the checkpoint was trained with (its config.yaml)");
  }
}

std::string load_trained_weights(BuiltModel& m, const std::string& path,
                                 const std::vector<std::string>& allow_missing) {
  namespace fs = std::filesystem;
  auto tensors = models::read_imagebind_llm_weights(path);
  if (!fs::is_directory(path)) {
    auto r = models::load_delta_weights(*m.model, tensors, allow_missing, path);
    models::check_base_identity(*m.model->llama, path);
    return path + ": " + std::to_string(r.loaded.size()) + " tensors";
  }
  load_trainable_tensors(m, tensors, path);
  return path + ": " + std::to_string(tensors.size()) + " trained tensors";
}

double model_flops_per_token(const RunConfig& c, const BuiltModel& m, int64_t seq_len) {
  bool lora = false, adapter = false, bind = false;
  for (const auto& n : m.trainable.names) {
    lora = lora || n.find("lora") != std::string::npos;
    adapter = adapter || n.rfind("image_bind_", 0) == 0 || n.rfind("prefix_query", 0) == 0;
    bind = bind || n.rfind("image_bind_", 0) == 0;
  }
  const auto& a = m.model->config();
  const double per_sample =
      llama_adapter_flops_per_sample(a.llama, adapter) +
      bind_network_flops_per_sample(a.bind.in_dim, a.bind.dim, a.bind.n_blocks, bind) +
      (a.build_imagebind ? imagebind_image_flops_per_sample(a.imagebind) : 0.0);
  return llama_train_flops_per_token(a.llama, seq_len, lora) +
         per_sample / static_cast<double>(std::max<int64_t>(seq_len, 1));
}

double peak_flops_for(const std::string& device_name, at::ScalarType frozen_dtype) {
  auto peak = gpu_peak(device_name);
  if (!peak) return 0.0;
  const Precision p = frozen_dtype == at::kBFloat16 ? Precision::kBf16
                      : frozen_dtype == at::kHalf   ? Precision::kFp16
                                                    : Precision::kTf32;
  return peak->at(p);
}

nlohmann::json model_signature(const RunConfig& c, const BuiltModel& m) {
  nlohmann::json j;
  const auto& l = c.model.llama;
  j["llama"] = {{"dim", l.dim},           {"n_layers", l.n_layers},
                {"n_heads", l.n_heads},   {"n_kv_heads", l.kv_heads()},
                {"vocab_size", l.vocab_size}, {"w_bias", l.w_bias},
                {"w_lora", l.w_lora},     {"lora_rank", l.lora_rank}};
  j["bind"] = {{"legacy", c.model.bind.legacy},
               {"n_blocks", c.model.bind.n_blocks},
               {"hidden", m.model->config().bind.hidden()}};
  j["imagebind_out_dim"] = c.model.imagebind.out_dim;
  j["query_layer"] = m.model->config().query_layer;
  j["trainable_preset"] = core::choice_name(models::trainable_preset_names(), c.model.trainable.preset);
  nlohmann::json t = nlohmann::json::array();
  for (const auto& p : m.trainable_parameters()) {
    std::vector<int64_t> shape(p.param.sizes().begin(), p.param.sizes().end());
    t.push_back({{"name", p.name}, {"shape", shape},
                 {"dtype", std::string(c10::toString(p.param.scalar_type()))}});
  }
  j["trainable"] = t;
  return j;
}

}  // namespace ibllm::train
