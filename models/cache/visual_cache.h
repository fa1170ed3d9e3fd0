// ImageBind-LLM's training-free visual cache at inference (spec §4): exact top-K inner-product
// search of the query feature in a memory-mapped fp16 index (cache_index.h), then
// softmax(τ·s)-weighted mixing of the K neighbours and β-interpolation with the query. The search
// scores the index chunk by chunk (fp32 products of the query with the upcast fp16 rows) and merges
// per-chunk top-K, so memory holds one chunk of scores; each sample mixes only its own neighbours
// (the reference's matmul mixes samples when B > 1, spec §4 / §9.14).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "models/cache/cache_index.h"
#include "models/cache/visual_cache_config.h"

namespace ibllm::io {
class SafetensorsFile;
}

namespace ibllm::models {

struct CacheHits {
  at::Tensor ids;     // (B, k) int64 global row ids, best first
  at::Tensor scores;  // (B, k) fp32 inner products, descending
};

struct CacheMix {
  at::Tensor weights;  // (B, K) softmax(τ·s)
  at::Tensor output;   // (B, D) unit-norm mixed feature
};

// The §4 formula per sample: a = softmax(τ·s) over K; r_b = Σ_k a_bk P_bk, r ← r/||r||;
// f' = (1−β)·f + β·r, f' ← f'/||f'||. f: (B, D), scores: (B, K), neighbours: (B, K, D); fp32.
CacheMix mix_with_neighbours(const at::Tensor& f, const at::Tensor& scores,
                             const at::Tensor& neighbours, double temperature, double beta);

class VisualCache {
 public:
  // Opens `config.path` (manifest + shards, memory-mapped). On a CUDA device the fp16 index is
  // copied to that device once; on CPU it stays mapped. Throws DataError for a bad directory and
  // ConfigError when top_k exceeds the number of cached rows.
  explicit VisualCache(const VisualCacheConfig& config, c10::Device device = c10::Device("cpu"));
  ~VisualCache();

  // f: (B, D) fp32 unit-norm query on any device (not renormalised, as the reference). Returns the
  // (B, D) fp32 cached feature on f's device.
  at::Tensor apply(const at::Tensor& f) const;
  // Exact top-k (1 <= k <= size()); results on the cache's device.
  CacheHits search(const at::Tensor& f, int64_t k) const;
  // Stored rows for ids of any shape: (..., D) fp32 on the cache's device.
  at::Tensor vectors(const at::Tensor& ids) const;
  // The embeddings-file key of a row (the image path `ibllm embed` was given); loaded on first use.
  std::string key(int64_t id) const;

  int64_t size() const { return manifest_.count; }
  int64_t dim() const { return manifest_.dim; }
  c10::Device device() const { return device_; }
  const VisualCacheConfig& config() const { return config_; }
  const CacheManifest& manifest() const { return manifest_; }
  // Shard i's (rows, D) fp16 rows and its file (on CPU the rows alias the file's mapping).
  size_t shard_count() const { return shards_.size(); }
  const at::Tensor& shard_vectors(size_t i) const { return shards_.at(i).vectors; }
  const io::SafetensorsFile& shard_file(size_t i) const { return *shards_.at(i).file; }

 private:
  struct Shard {
    std::unique_ptr<io::SafetensorsFile> file;
    at::Tensor vectors;  // (rows, D) fp16, mapped (CPU) or resident (CUDA)
    int64_t offset = 0;  // global id of row 0
  };
  at::Tensor check_query(const at::Tensor& f) const;
  CacheHits search_query(const at::Tensor& q, int64_t k) const;  // q already checked
  size_t shard_of(int64_t id) const;

  VisualCacheConfig config_;
  c10::Device device_;
  CacheManifest manifest_;
  std::vector<Shard> shards_;
  mutable std::once_flag keys_once_;
  mutable std::vector<std::vector<std::string>> keys_;
};

}  // namespace ibllm::models
