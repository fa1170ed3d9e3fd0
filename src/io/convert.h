// `ibllm convert` as a library function: any weights file -> one .safetensors file, streamed one
// tensor at a time (each read with pread into owned memory, converted, written, freed), so memory
// stays near the largest single tensor however big the input. Optional dtype cast (floating
// tensors only), Meta <-> HF LLaMA key map with the q/k permutation, and glob selection.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/io/llama_key_map.h"

namespace ibllm::io {

enum class KeyMap { kNone, kMetaToHf, kHfToMeta };

struct ConvertOptions {
  c10::optional<at::ScalarType> dtype;  // cast floating-point tensors; integers/bools untouched
  KeyMap map = KeyMap::kNone;
  // Heads for the q/k permutation; when 0, read from params.json (Meta) or config.json (HF) next to
  // the input file.
  LlamaKeyMapOptions llama;
  std::vector<std::string> select;              // globs on source tensor names; empty = all
  std::string under;                            // .pth container path ("model"); "" = all tensors
  bool rename_llma = false;                     // legacy "llma." -> "llama." before mapping
  std::map<std::string, std::string> metadata;  // extra __metadata__ ("format": "pt" is added)
  // Called after each tensor: tensors done/total, bytes written so far / total to write.
  std::function<void(size_t, size_t, uint64_t, uint64_t)> progress;
};

struct ConvertStats {
  size_t tensors = 0;
  size_t dropped = 0;  // RoPE buffers removed by the key map
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  double seconds = 0.0;
};

ConvertStats convert_weights(const std::string& input, const std::string& output,
                             const ConvertOptions& options);

// "bf16"/"bfloat16", "fp16"/"f16"/"half"/"float16", "fp32"/"f32"/"float"/"float32",
// "fp64"/"f64"/...
at::ScalarType parse_dtype_name(const std::string& name);
// "meta-to-hf", "hf-to-meta", "none"/"".
KeyMap parse_key_map(const std::string& name);

}  // namespace ibllm::io
