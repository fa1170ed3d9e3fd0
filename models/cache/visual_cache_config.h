// Configuration of the inference-time visual cache (spec §4), YAML `model.cache:`. Torch-free so
// the CLI and config checks include it cheaply. Defaults are the reference's generate() defaults
// (K=10, τ=20, β=0.5). `chunk_rows` bounds the memory of one search step (B×chunk scores and the
// fp32 copy of one chunk of the index) and never changes the result; 0 picks a measured default.
#pragma once

#include <cstdint>
#include <string>

namespace ibllm::config {
class Section;
}

namespace ibllm::models {

struct VisualCacheConfig {
  bool enabled = false;       // the reference's knn=True (demo apps); never used in training
  std::string path;           // directory written by `ibllm build-cache` (manifest.json + shards)
  int64_t top_k = 10;         // K neighbours (reference cache_size)
  double temperature = 20.0;  // τ in softmax(τ·s) (reference cache_t)
  double beta = 0.5;          // β: f' = (1−β)·f + β·r (reference cache_weight)
  // Index rows scored per matrix product; 0: kCpuChunkRows on CPU (the fp32 chunk stays in cache:
  // 4096 ran 2-5x faster than 65536 in the CPU bench), kCudaChunkRows on CUDA (fewer launches).
  int64_t chunk_rows = 0;
};

inline constexpr int64_t kCpuChunkRows = 4096;
inline constexpr int64_t kCudaChunkRows = 131072;

// Reads `model.cache`; `path` is required when `enabled` is true.
VisualCacheConfig parse_visual_cache_config(config::Section s);

}  // namespace ibllm::models
