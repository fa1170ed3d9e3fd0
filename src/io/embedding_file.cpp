// Reading and writing the `ibllm embed` embeddings file (see embedding_file.h).
#include "src/io/embedding_file.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "src/core/error.h"
#include "src/io/safetensors.h"

namespace ibllm::io {

namespace {

constexpr const char* kEmbeddings = "embeddings";
constexpr const char* kPaths = "paths";

}  // namespace

std::vector<std::string> read_row_keys(const SafetensorsFile& file, int64_t rows,
                                       const EmbeddingFileContext& context) {
  const std::string where = context.noun + " " + file.path();
  auto it = file.metadata().find(kPaths);
  if (it == file.metadata().end())
    throw DataError(where + " has no \"paths\" metadata (JSON list of one key per row)",
                    context.hint);
  nlohmann::json keys;
  try {
    keys = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw DataError(where + ": \"paths\" metadata is not JSON: " + e.what(), context.hint);
  }
  if (!keys.is_array() || static_cast<int64_t>(keys.size()) != rows)
    throw DataError(
        fmt::format("{}: \"paths\" must list exactly one key per row ({})", where, rows),
        context.hint);
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i].is_string())
      throw DataError(fmt::format("{}: paths[{}] is not a string", where, i), context.hint);
    out.push_back(keys[i].get<std::string>());
  }
  return out;
}

EmbeddingFile read_embedding_file(const std::string& path, const EmbeddingFileContext& context) {
  std::unique_ptr<SafetensorsFile> file;
  try {
    file = std::make_unique<SafetensorsFile>(path);
  } catch (const Error& e) {
    throw DataError("cannot open " + context.noun + " " + path + ": " + e.what(), context.hint);
  }
  const std::string where = context.noun + " " + path;
  if (!file->contains(kEmbeddings))
    throw DataError(where + " has no tensor \"embeddings\"", context.hint);
  EmbeddingFile out;
  out.path = path;
  out.embeddings = file->tensor(kEmbeddings);  // keeps the mapping alive after `file` goes
  if (out.embeddings.dim() != 2 || !at::isFloatingType(out.embeddings.scalar_type()))
    throw DataError(
        fmt::format("{}: \"embeddings\" must be a float (N, D) tensor, got {} with {} "
                    "dims",
                    where, c10::toString(out.embeddings.scalar_type()), out.embeddings.dim()),
        context.hint);
  out.keys = read_row_keys(*file, out.embeddings.size(0), context);
  out.metadata = file->metadata();
  return out;
}

void write_embedding_file(const std::string& path, const std::vector<std::string>& keys,
                          const at::Tensor& embeddings,
                          const std::map<std::string, std::string>& extra_metadata) {
  if (embeddings.dim() != 2 || embeddings.size(0) != static_cast<int64_t>(keys.size()))
    throw DataError(
        fmt::format("embeddings file {}: embeddings must be (N, D) with N = {} (the "
                    "number of keys)",
                    path, keys.size()));
  if (extra_metadata.count(kPaths))
    throw DataError("embeddings file " + path +
                    ": metadata key \"paths\" is reserved for the row keys");
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata[kPaths] = nlohmann::json(keys).dump();
  write_safetensors(path, {{kEmbeddings, embeddings.contiguous()}}, metadata);
}

}  // namespace ibllm::io
