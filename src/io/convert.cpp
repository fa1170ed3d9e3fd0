// Streaming conversion. The output header is computed from the input's entry list before any
// tensor is read (names after the key map, shapes unchanged by the permutation, dtypes after the
// cast), then tensors are produced in the writer's order.
#include "src/io/convert.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "src/io/state_dict.h"
#include "src/io/weights_reader.h"

namespace ibllm::io {
namespace {

namespace fs = std::filesystem;

// n_heads / n_kv_heads from params.json (Meta) or config.json (HF) beside the input.
void fill_heads_from_json(const std::string& input, LlamaKeyMapOptions& o) {
  if (o.n_heads > 0) return;
  const fs::path dir = fs::is_directory(input) ? fs::path(input) : fs::path(input).parent_path();
  for (const auto& [file, heads, kv] :
       {std::tuple<const char*, const char*, const char*>{"params.json", "n_heads", "n_kv_heads"},
        {"config.json", "num_attention_heads", "num_key_value_heads"}}) {
    std::ifstream in(dir / file);
    if (!in) continue;
    try {
      const auto j = nlohmann::json::parse(in);
      if (j.contains(heads) && j[heads].is_number_integer()) {
        o.n_heads = j[heads].get<int64_t>();
        if (j.contains(kv) && j[kv].is_number_integer()) o.n_kv_heads = j[kv].get<int64_t>();
        return;
      }
    } catch (const nlohmann::json::exception& e) {
      throw IoError((dir / file).string() + ": cannot read the number of heads: " + e.what());
    }
  }
}

bool selected(const std::vector<std::string>& globs, const std::string& name) {
  if (globs.empty()) return true;
  for (const auto& g : globs) {
    if (glob_match(g, name)) return true;
  }
  return false;
}

}  // namespace

at::ScalarType parse_dtype_name(const std::string& n) {
  if (n == "bf16" || n == "bfloat16" || n == "BF16") return at::kBFloat16;
  if (n == "fp16" || n == "f16" || n == "half" || n == "float16" || n == "F16") return at::kHalf;
  if (n == "fp32" || n == "f32" || n == "float" || n == "float32" || n == "F32") return at::kFloat;
  if (n == "fp64" || n == "f64" || n == "double" || n == "float64" || n == "F64")
    return at::kDouble;
  throw IoError("unknown dtype '" + n + "'", "use bf16, fp16, fp32 or fp64");
}

KeyMap parse_key_map(const std::string& n) {
  if (n.empty() || n == "none") return KeyMap::kNone;
  if (n == "meta-to-hf") return KeyMap::kMetaToHf;
  if (n == "hf-to-meta") return KeyMap::kHfToMeta;
  throw IoError("unknown key map '" + n + "'", "use meta-to-hf or hf-to-meta");
}

ConvertStats convert_weights(const std::string& input, const std::string& output,
                             const ConvertOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  WeightsReader reader(input, options.under);
  LlamaKeyMapOptions llama = options.llama;
  if (options.map != KeyMap::kNone) fill_heads_from_json(input, llama);

  auto out_name = [&](std::string name) -> c10::optional<std::string> {
    if (options.rename_llma) name = rename_legacy_llma(name);
    if (options.map == KeyMap::kMetaToHf) return meta_to_hf_key(name, llama.meta_prefix);
    if (options.map == KeyMap::kHfToMeta) return hf_to_meta_key(name, llama.meta_prefix);
    return name;
  };
  auto out_dtype = [&](at::ScalarType t) {
    return options.dtype && at::isFloatingType(t) ? *options.dtype : t;
  };

  ConvertStats stats;
  std::vector<SafetensorsWriter::Spec> specs;
  std::map<std::string, std::string> source_of;  // output name -> input name
  uint64_t total = 0;
  for (const auto& e : reader.entries()) {
    if (!selected(options.select, e.name)) continue;
    const auto name = out_name(e.name);
    if (!name) {
      ++stats.dropped;
      continue;
    }
    if (name->empty()) {
      throw IoError(
          input +
              ": a tensor without a name (a single-tensor .pth) cannot be stored in safetensors",
          "save it inside a dict in Python");
    }
    if (!source_of.emplace(*name, e.name).second) {
      throw IoError(input + ": tensors '" + source_of[*name] + "' and '" + e.name +
                    "' both become '" + *name + "'");
    }
    const auto dt = out_dtype(e.dtype);
    specs.push_back({*name, dt, e.shape});
    total += e.nbytes / at::elementSize(e.dtype) * at::elementSize(dt);
  }
  if (specs.empty()) {
    throw IoError(input + ": no tensors selected",
                  "check --select globs against `ibllm inspect` output");
  }
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  for (const auto& [k, v] : options.metadata) metadata[k] = v;

  SafetensorsWriter writer(output, std::move(specs), metadata);
  size_t done = 0;
  uint64_t written = 0;
  for (const auto& spec : writer.order()) {
    const std::string& src = source_of.at(spec.name);
    at::Tensor t = reader.tensor(src, /*copy=*/true);
    stats.bytes_read += t.numel() * t.element_size();
    std::string key = options.rename_llma ? rename_legacy_llma(src) : src;
    if (options.map == KeyMap::kMetaToHf) {
      t = meta_to_hf_entry(key, t, llama)->second;
    } else if (options.map == KeyMap::kHfToMeta) {
      t = hf_to_meta_entry(key, t, llama)->second;
    }
    if (t.scalar_type() != spec.dtype) t = t.to(spec.dtype);
    writer.write(spec.name, t);
    written += t.numel() * t.element_size();
    ++done;
    if (options.progress) options.progress(done, writer.order().size(), written, total);
  }
  writer.finish();
  stats.tensors = done;
  stats.bytes_written = writer.bytes_written();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace ibllm::io
