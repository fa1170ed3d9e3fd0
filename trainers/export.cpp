// Weight export; see export.h. Every file is first written into a staging folder inside the output
// directory and moved into place only when all of them are complete, so an export that fails (disk
// full, quota, an unwritable directory) or is killed leaves the previous export's files untouched.
#include "trainers/export.h"

#include <filesystem>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <fmt/format.h>

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

int64_t tensor_bytes(const std::map<std::string, at::Tensor>& t) {
  int64_t n = 0;
  for (const auto& [k, v] : t) n += static_cast<int64_t>(v.numel() * v.element_size());
  return n;
}

// The files of one export, written under <out>/.export.tmp/ and renamed into <out>/ by commit().
// A staging folder left by a killed export is removed by the next one; destroying an uncommitted
// stage removes it.
class ExportStage {
 public:
  explicit ExportStage(const fs::path& out) : out_(out), dir_(out / ".export.tmp") {
    fs::create_directories(out_);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    fs::create_directory(dir_);
  }
  ~ExportStage() {
    std::error_code ignored;
    if (!committed_) fs::remove_all(dir_, ignored);
  }
  ExportStage(const ExportStage&) = delete;
  ExportStage& operator=(const ExportStage&) = delete;

  // Where to write `name`; its final place is <out>/name.
  std::string path(const std::string& name) {
    names_.push_back(name);
    return (dir_ / name).string();
  }
  // Moves every staged file into place (renames within one file system: no space needed). The
  // writers fsync each file before it is staged; only the renames need the directory's fsync.
  std::vector<std::string> commit() {
    std::vector<std::string> done;
    for (const auto& n : names_) {
      fs::rename(dir_ / n, out_ / n);
      done.push_back((out_ / n).string());
    }
    io::fsync_path(out_);
    committed_ = true;
    fs::remove_all(dir_);
    return done;
  }

 private:
  fs::path out_, dir_;
  std::vector<std::string> names_;
  bool committed_ = false;
};

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
  ExportResult r;
  int64_t needed = 0;
  nlohmann::json info = {{"source", run.checkpoint.empty() ? "init" : run.checkpoint},
                         {"dtype", o.dtype},
                         {"llama_base", c.model.init.llama},
                         {"imagebind", c.model.init.imagebind},
                         {"bind_legacy", c.model.bind.legacy},
                         {"llama_base_identity", models::llama_base_identity(*m.model->llama)}};
  try {
    ExportStage stage(o.out_dir);
    if (o.delta) {
      auto delta = cast_cpu(models::delta_state(*m.model), dtype);
      needed += 2 * tensor_bytes(delta);
      io::write_safetensors(stage.path("delta.safetensors"), delta,
                            {{"format", "ibllm-delta"}, {"info", info.dump()},
                             {"llama_base_identity", info["llama_base_identity"].get<std::string>()}});
      core::kill_point("export.delta.safetensors");  // test seam (IBLLM_TEST_KILL_AT)
      std::vector<std::pair<std::string, at::Tensor>> ordered;
      for (const auto& p : m.model->named_parameters(true))  // registration order, like 7B.pth
        if (delta.count(p.key())) ordered.emplace_back(p.key(), delta.at(p.key()));
      io::write_pth(stage.path("delta.pth"), ordered, "model");
      core::kill_point("export.delta.pth");
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
      needed += tensor_bytes(merged);
      io::write_safetensors(stage.path("merged.safetensors"), merged,
                            {{"format", "ibllm-merged"}, {"info", info.dump()}});
      core::kill_point("export.merged.safetensors");
      nlohmann::json man = info;
      man["lora_folded"] = {"wq", "wk", "wo", "w1", "w2", "w3"};
      man["lora_kept"] = {"wv"};
      man["tensors"] = manifest_of(merged);
      io::write_file_durably(stage.path("merged.manifest.json"), man.dump(2) + "\n");
      core::kill_point("export.manifest");
      r.merged_tensors = static_cast<int64_t>(merged.size());
    }
    r.files = stage.commit();
  } catch (const IoError& e) {
    if (e.os_error() == 0) throw;  // the contents, not the disk
    std::error_code ec;
    const auto space = fs::space(o.out_dir, ec);
    throw IoError(fmt::format("{}: the export could not be written: {} (it needs about {} bytes; {} "
                              "bytes are available there); its partial files were removed and the "
                              "files already in {} are untouched",
                              o.out_dir, e.what(), needed,
                              ec ? std::string("?") : std::to_string(space.available), o.out_dir),
                  "free disk space or choose another --out", e.os_error());
  } catch (const fs::filesystem_error& e) {
    throw IoError(o.out_dir + ": the export could not be written: " + e.what(),
                  "check the permissions and free space of --out", e.code().value());
  }
  return r;
}

}  // namespace ibllm::train
