// Weight export; see export.h.
#include "trainers/export.h"

#include <filesystem>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "models/imagebind_llm_weights.h"
#include "src/core/error.h"
#include "src/core/kill_point.h"
#include "src/io/convert.h"
#include "src/io/durable_file.h"
#include "src/io/pth_writer.h"
#include "src/io/safetensors.h"
#include "src/io/state_dict.h"
#include "trainers/model_builder.h"

namespace ibllm::train {
namespace {

namespace fs = std::filesystem;

std::map<std::string, at::Tensor> cast_cpu(const std::map<std::string, at::Tensor>& in,
                                           at::ScalarType dtype) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, v] : in) {
    auto t = v.detach().to(at::kCPU);
    if (at::isFloatingType(t.scalar_type())) t = t.to(dtype);
    out.emplace(k, t.contiguous());
  }
  return out;
}

nlohmann::json manifest_of(const std::map<std::string, at::Tensor>& t) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : t)
    j[k] = {{"shape", std::vector<int64_t>(v.sizes().begin(), v.sizes().end())},
            {"dtype", std::string(c10::toString(v.scalar_type()))}};
  return j;
}

}  // namespace

at::ScalarType export_dtype(const std::string& name) {
  const std::string message = "unknown --dtype '" + name + "' (use fp32, fp16 or bf16)";
  at::ScalarType dtype;
  try {
    dtype = io::parse_dtype_name(name);
  } catch (const IoError&) {
    throw UsageError(message);  // a command-line mistake: exit code 2, not an I/O failure
  }
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
    throw UsageError(message);  // fp64: a name io knows, but not an export dtype
  return dtype;
}

void check_export_options(const ExportOptions& o) {
  if (o.out_dir.empty()) throw UsageError("export needs --out <dir>");
  export_dtype(o.dtype);
  if (!o.delta && !o.merged) throw UsageError("--no-delta without --merged exports nothing");
}

ExportResult export_weights(RunSetup& run, const ExportOptions& o) {
  check_export_options(o);
  const auto dtype = export_dtype(o.dtype);
  const RunConfig& c = run.config;
  BuiltModel& m = run.model;
  spdlog::info("export from {}", run.checkpoint.empty() ? "initialised model" : run.weights);
  fs::create_directories(o.out_dir);
  ExportResult r;
  nlohmann::json info = {{"source", run.checkpoint.empty() ? "init" : run.checkpoint},
                         {"dtype", o.dtype},
                         {"llama_base", c.model.init.llama},
                         {"imagebind", c.model.init.imagebind},
                         {"bind_legacy", c.model.bind.legacy},
                         {"llama_base_identity", models::llama_base_identity(*m.model->llama)}};
  if (o.delta) {
    auto delta = cast_cpu(models::delta_state(*m.model), dtype);
    const auto st = (fs::path(o.out_dir) / "delta.safetensors").string();
    const auto pth = (fs::path(o.out_dir) / "delta.pth").string();
    io::write_safetensors(st, delta, {{"format", "ibllm-delta"}, {"info", info.dump()},
                                      {"llama_base_identity", info["llama_base_identity"].get<std::string>()}});
    core::kill_point("export.delta.safetensors");  // test seam (IBLLM_TEST_KILL_AT)
    std::vector<std::pair<std::string, at::Tensor>> ordered;
    for (const auto& p : m.model->named_parameters(true))  // registration order, like 7B.pth
      if (delta.count(p.key())) ordered.emplace_back(p.key(), delta.at(p.key()));
    io::write_pth(pth, ordered, "model");
    core::kill_point("export.delta.pth");
    r.files.push_back(st);
    r.files.push_back(pth);
    r.delta_tensors = static_cast<int64_t>(delta.size());
  }
  if (o.merged) {
    m.model->llama->merge_lora();
    std::map<std::string, at::Tensor> all;
    for (const auto& [k, v] : io::module_state(*m.model)) {
      if (!o.with_imagebind && k.rfind("image_bind.", 0) == 0) continue;
      all.emplace(k, v);  // folded LoRA pairs stay with B = 0, so the file loads strictly
    }
    auto merged = cast_cpu(all, dtype);
    const auto st = (fs::path(o.out_dir) / "merged.safetensors").string();
    io::write_safetensors(st, merged, {{"format", "ibllm-merged"}, {"info", info.dump()}});
    core::kill_point("export.merged.safetensors");
    nlohmann::json man = info;
    man["lora_folded"] = {"wq", "wk", "wo", "w1", "w2", "w3"};
    man["lora_kept"] = {"wv"};
    man["tensors"] = manifest_of(merged);
    const auto mp = (fs::path(o.out_dir) / "merged.manifest.json").string();
    // Like the weight files: written to a .tmp, fsync'd and renamed, so a killed export never
    // leaves a truncated manifest under its final name.
    io::replace_file_atomically(mp, man.dump(2) + "\n");
    core::kill_point("export.manifest");
    r.files.push_back(st);
    r.files.push_back(mp);
    r.merged_tensors = static_cast<int64_t>(merged.size());
  }
  return r;
}

}  // namespace ibllm::train
