// Precomputed ImageBind embeddings for the feature-cached dataset variant: the `ibllm embed` file
// (src/io/embedding_file.h: float tensor "embeddings" (N, D), metadata "paths" = JSON list of the N
// image paths as written in the data file; the key "" holds the zero-image feature used for
// text-only rows in text_only: reference). Training then skips the frozen encoder; sample
// semantics are unchanged.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace ibllm::data {

class FeatureCache {
 public:
  // Throws DataError when the file, the tensor or the metadata is missing or inconsistent.
  explicit FeatureCache(const std::string& path);
  bool contains(const std::string& key) const { return rows_.count(key) != 0; }
  // (D) float32 copy of the row for `key`; throws DataError when absent.
  at::Tensor get(const std::string& key) const;
  int64_t dim() const { return dim_; }
  int64_t size() const { return static_cast<int64_t>(rows_.size()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  at::Tensor embeddings_;  // aliases the mapped file
  int64_t dim_ = 0;
  std::unordered_map<std::string, int64_t> rows_;
};

// Writes a cache file (io::write_embedding_file; used by `ibllm embed` and tests).
// embeddings: (N, D). extra_metadata: further string entries (e.g. `ibllm embed`'s "failed"
// list); "paths" is reserved.
void write_feature_cache(const std::string& path, const std::vector<std::string>& keys,
                         const at::Tensor& embeddings,
                         const std::map<std::string, std::string>& extra_metadata = {});

}  // namespace ibllm::data
