// The embeddings file that `ibllm embed` writes and both the feature-cached dataset
// (data/feature_cache.h) and the visual cache builder (models/cache/cache_index.h) read: one
// .safetensors file with a float tensor "embeddings" (N, D) and metadata "paths" = JSON list of the
// N row keys. Readers differ in how they name the file and what they advise, so each call passes
// the noun that starts every message and the hint attached to every format error.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ibllm::io {

class SafetensorsFile;

struct EmbeddingFile {
  std::string path;
  at::Tensor embeddings;                        // (N, D) floating, aliasing the mapped file
  std::vector<std::string> keys;                // N row keys, in row order
  std::map<std::string, std::string> metadata;  // every metadata entry ("paths" included)
};

// How a reader names the file in messages ("feature cache", "embeddings file") and the hint it
// gives for a file in the wrong format.
struct EmbeddingFileContext {
  std::string noun = "embeddings file";
  std::string hint;
};

// Opens and validates the file; throws DataError ("<noun> <path> ...", context.hint) when it
// cannot be opened, has no "embeddings" tensor, the tensor is not a float (N, D) tensor, or the
// "paths" metadata is missing, not JSON, not a list of N strings.
EmbeddingFile read_embedding_file(const std::string& path, const EmbeddingFileContext& context);

// The "paths" metadata of `file` as `rows` strings (also the row keys of the visual cache shards);
// throws DataError like read_embedding_file.
std::vector<std::string> read_row_keys(const SafetensorsFile& file, int64_t rows,
                                       const EmbeddingFileContext& context);

// Writes the file atomically. embeddings: (N, D) with N = keys.size(). extra_metadata: further
// string entries (e.g. `ibllm embed`'s "failed" list); "paths" is reserved for the keys.
void write_embedding_file(const std::string& path, const std::vector<std::string>& keys,
                          const at::Tensor& embeddings,
                          const std::map<std::string, std::string>& extra_metadata = {});

}  // namespace ibllm::io
