// Building and describing the visual cache directory (see cache_index.h).
#include "models/cache/cache_index.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "src/core/error.h"
#include "src/io/durable_file.h"
#include "src/io/embedding_file.h"
#include "src/io/safetensors.h"

namespace ibllm::models {

namespace {

namespace fs = std::filesystem;

constexpr int kManifestVersion = 1;
constexpr size_t kMaxDuplicateExamples = 20;

// (rows, D) fp32 rows of `x` -> L2-normalised fp16; throws on a non-finite or all-zero row.
at::Tensor normalise_rows(const at::Tensor& x, const std::string& path, int64_t first_row,
                          const std::vector<std::string>& keys) {
  at::Tensor f = x.to(at::kFloat);
  at::Tensor bad = at::logical_not(at::isfinite(f).all(1));
  at::Tensor norm = f.norm(2, {1}, true);
  bad = at::logical_or(bad, norm.squeeze(1) <= 1e-12);
  if (bad.any().item<bool>()) {
    const int64_t r = bad.nonzero()[0][0].item<int64_t>();
    const bool finite = at::isfinite(f[r]).all().item<bool>();
    throw DataError(
        fmt::format("embeddings file {}: row {} (key \"{}\") is {}", path, first_row + r,
                    keys[first_row + r],
                    finite ? "all zero (cannot be normalised)" : "not finite (NaN or Inf)"),
        "re-run `ibllm embed` for that input or remove the row");
  }
  return (f / norm).to(at::kHalf);
}

}  // namespace

CacheBuildReport build_visual_cache(const std::vector<std::string>& sources,
                                    const std::string& out_dir, const CacheBuildOptions& options) {
  if (sources.empty())
    throw DataError("build-cache: no embeddings files given",
                    "pass --embeddings feats.safetensors");
  if (options.chunk_rows < 1) throw DataError("build-cache: chunk_rows must be >= 1");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError("cannot create cache directory " + out_dir + ": " + ec.message());

  CacheBuildReport report;
  nlohmann::json shards = nlohmann::json::array();
  std::unordered_map<std::string, size_t> seen;  // key -> source index holding the kept row
  for (size_t s = 0; s < sources.size(); ++s) {
    const std::string& path = sources[s];
    const io::EmbeddingFile file =
        io::read_embedding_file(path, {"embeddings file", "give files written by `ibllm embed`"});
    const at::Tensor& emb = file.embeddings;
    const std::vector<std::string>& keys = file.keys;
    const int64_t rows = emb.size(0), dim = emb.size(1);
    if (rows == 0 || dim == 0)
      throw DataError("embeddings file " + path + " is empty (no rows)",
                      "drop it from the list or re-run `ibllm embed`");
    if (report.dim == 0) report.dim = dim;
    if (dim != report.dim)
      throw DataError(fmt::format("embeddings file {} has width {}, but {} has width {}", path, dim,
                                  sources[0], report.dim),
                      "all files must come from the same ImageBind model");

    CacheSourceReport src;
    src.path = path;
    src.rows_in = rows;
    std::vector<int64_t> keep;
    std::vector<std::string> kept_keys;
    for (int64_t r = 0; r < rows; ++r) {
      const std::string& k = keys[static_cast<size_t>(r)];
      if (k.empty() && options.skip_zero_image) {
        ++src.zero_image;
        continue;
      }
      auto [it, inserted] = seen.emplace(k, s);
      if (!inserted) {
        ++src.duplicates;
        if (report.duplicate_examples.size() < kMaxDuplicateExamples)
          report.duplicate_examples.push_back({k, sources[it->second], path});
        continue;
      }
      keep.push_back(r);
      kept_keys.push_back(k);
    }
    // Every row is checked, the dropped ones included: a broken file is reported, not half-used.
    at::Tensor out = at::empty({static_cast<int64_t>(keep.size()), dim}, at::kHalf);
    const at::Tensor keep_t = at::tensor(keep, at::kLong);
    int64_t written = 0;
    for (int64_t b = 0; b < rows; b += options.chunk_rows) {
      const int64_t n = std::min(options.chunk_rows, rows - b);
      at::Tensor normed = normalise_rows(emb.narrow(0, b, n), path, b, keys);
      // Kept rows inside [b, b+n): a contiguous range of `keep` (it is sorted).
      const auto lo = std::lower_bound(keep.begin(), keep.end(), b) - keep.begin();
      const auto hi = std::lower_bound(keep.begin(), keep.end(), b + n) - keep.begin();
      if (hi > lo) {
        at::Tensor local = keep_t.slice(0, lo, hi) - b;
        out.narrow(0, written, hi - lo).copy_(normed.index_select(0, local));
        written += hi - lo;
      }
    }
    src.rows_kept = written;
    if (written > 0) {
      src.shard = fmt::format("vectors-{:05d}.safetensors", shards.size());
      io::write_safetensors((fs::path(out_dir) / src.shard).string(), {{"vectors", out}},
                            {{"paths", nlohmann::json(kept_keys).dump()}, {"source", path}});
      shards.push_back({{"file", src.shard}, {"source", path}, {"rows", written}});
    }
    report.count += written;
    report.duplicates += src.duplicates;
    report.sources.push_back(src);
  }
  if (report.count == 0)
    throw DataError("build-cache: no rows left to index (only zero-image or duplicate rows)");

  nlohmann::json sources_json = nlohmann::json::array();
  for (const auto& s : report.sources)
    sources_json.push_back({{"path", s.path},
                            {"rows", s.rows_in},
                            {"kept", s.rows_kept},
                            {"duplicates", s.duplicates},
                            {"zero_image", s.zero_image}});
  nlohmann::json manifest = {{"format", "ibllm-visual-cache"},
                             {"version", kManifestVersion},
                             {"count", report.count},
                             {"dim", report.dim},
                             {"dtype", "F16"},
                             {"normalisation", "l2"},
                             {"duplicates", report.duplicates},
                             {"sources", sources_json},
                             {"shards", shards}};
  io::replace_file_atomically(fs::path(out_dir) / "manifest.json", manifest.dump(2) + "\n");
  return report;
}

CacheManifest read_cache_manifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / "manifest.json";
  std::ifstream in(path);
  if (!in)
    throw DataError("visual cache " + dir + " has no manifest.json",
                    "build the index with `ibllm build-cache --embeddings ... --out " + dir + "`");
  CacheManifest m;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    if (j.at("format").get<std::string>() != "ibllm-visual-cache" ||
        j.at("version").get<int>() != kManifestVersion)
      throw DataError(path.string() + " is not a version-1 ibllm visual cache manifest");
    m.count = j.at("count").get<int64_t>();
    m.dim = j.at("dim").get<int64_t>();
    m.dtype = j.at("dtype").get<std::string>();
    m.normalisation = j.at("normalisation").get<std::string>();
    for (const auto& s : j.at("shards"))
      m.shards.push_back({s.at("file").get<std::string>(), s.at("source").get<std::string>(),
                          s.at("rows").get<int64_t>()});
  } catch (const nlohmann::json::exception& e) {
    throw DataError("cannot read " + path.string() + ": " + e.what(),
                    "rebuild the index with `ibllm build-cache`");
  }
  int64_t total = 0;
  for (const auto& s : m.shards) total += s.rows;
  if (m.count <= 0 || m.dim <= 0 || total != m.count || m.dtype != "F16")
    throw DataError(path.string() + ": inconsistent manifest (count " + std::to_string(m.count) +
                        ", shard rows " + std::to_string(total) + ", dtype " + m.dtype + ")",
                    "rebuild the index with `ibllm build-cache`");
  return m;
}

}  // namespace ibllm::models
