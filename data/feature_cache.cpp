// FeatureCache: mmap'd embeddings rows looked up by image path (see header).
#include "data/feature_cache.h"

#include <ATen/ATen.h>

#include "src/core/error.h"
#include "src/io/embedding_file.h"

namespace ibllm::data {

FeatureCache::FeatureCache(const std::string& path) : path_(path) {
  io::EmbeddingFile file = io::read_embedding_file(
      path, {"feature cache", "write it with write_feature_cache (embeddings + paths metadata)"});
  embeddings_ = file.embeddings;
  dim_ = embeddings_.size(1);
  for (size_t i = 0; i < file.keys.size(); ++i)
    rows_.emplace(std::move(file.keys[i]), static_cast<int64_t>(i));
}

at::Tensor FeatureCache::get(const std::string& key) const {
  auto it = rows_.find(key);
  if (it == rows_.end())
    throw DataError("feature cache " + path_ + " has no row for \"" + key + "\"",
                    "re-run feature extraction for this dataset");
  return embeddings_[it->second].to(at::kFloat).clone();
}

void write_feature_cache(const std::string& path, const std::vector<std::string>& keys,
                         const at::Tensor& embeddings,
                         const std::map<std::string, std::string>& extra_metadata) {
  io::write_embedding_file(path, keys, embeddings, extra_metadata);
}

}  // namespace ibllm::data
