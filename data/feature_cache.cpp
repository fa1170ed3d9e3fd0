// FeatureCache: mmap'd safetensors rows looked up by image path (see header).
#include "data/feature_cache.h"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "src/core/error.h"
#include "src/io/safetensors.h"

namespace ibllm::data {

FeatureCache::FeatureCache(const std::string& path) : path_(path) {
  try {
    file_ = std::make_unique<io::SafetensorsFile>(path);
  } catch (const Error& e) {
    throw DataError("cannot open feature cache " + path + ": " + e.what(),
                    "write it with write_feature_cache (embeddings + paths metadata)");
  }
  if (!file_->contains("embeddings"))
    throw DataError("feature cache " + path + " has no tensor \"embeddings\"");
  embeddings_ = file_->tensor("embeddings");
  if (embeddings_.dim() != 2)
    throw DataError("feature cache " + path + ": \"embeddings\" must be (N, D)");
  dim_ = embeddings_.size(1);
  auto it = file_->metadata().find("paths");
  if (it == file_->metadata().end())
    throw DataError("feature cache " + path +
                    " has no \"paths\" metadata (JSON list of image paths)");
  nlohmann::json keys;
  try {
    keys = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw DataError("feature cache " + path + ": \"paths\" metadata is not JSON: " + e.what());
  }
  if (!keys.is_array() || static_cast<int64_t>(keys.size()) != embeddings_.size(0))
    throw DataError("feature cache " + path + ": \"paths\" must list exactly one path per row (" +
                    std::to_string(embeddings_.size(0)) + ")");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i].is_string())
      throw DataError("feature cache " + path + ": paths[" + std::to_string(i) +
                      "] is not a string");
    rows_.emplace(keys[i].get<std::string>(), static_cast<int64_t>(i));
  }
}

FeatureCache::~FeatureCache() = default;

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
  if (embeddings.dim() != 2 || embeddings.size(0) != static_cast<int64_t>(keys.size()))
    throw DataError("write_feature_cache: embeddings must be (N, D) with N = number of paths");
  if (extra_metadata.count("paths"))
    throw DataError("write_feature_cache: metadata key \"paths\" is reserved for the row keys");
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata["paths"] = nlohmann::json(keys).dump();
  io::write_safetensors(path, {{"embeddings", embeddings.contiguous()}}, metadata);
}

}  // namespace ibllm::data
