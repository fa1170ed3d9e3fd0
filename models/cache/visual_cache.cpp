// VisualCache: chunked exact top-K search and the §4 mixing (see visual_cache.h).
#include "models/cache/visual_cache.h"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "src/core/error.h"
#include "src/io/embedding_file.h"
#include "src/io/safetensors.h"

namespace ibllm::models {

CacheMix mix_with_neighbours(const at::Tensor& f, const at::Tensor& scores,
                             const at::Tensor& neighbours, double temperature, double beta) {
  if (f.dim() != 2 || scores.dim() != 2 || neighbours.dim() != 3 || scores.size(0) != f.size(0) ||
      neighbours.size(0) != f.size(0) || neighbours.size(1) != scores.size(1) ||
      neighbours.size(2) != f.size(1))
    throw ModelError(
        fmt::format("visual cache mixing: expected f (B,D), scores (B,K), neighbours "
                    "(B,K,D); got {}, {}, {}",
                    c10::str(f.sizes()), c10::str(scores.sizes()), c10::str(neighbours.sizes())));
  CacheMix m;
  m.weights = at::softmax(scores.to(at::kFloat) * temperature, 1);
  // Per sample: (B,1,K) x (B,K,D) -> (B,D); never mixes samples.
  at::Tensor r = at::bmm(m.weights.unsqueeze(1), neighbours.to(at::kFloat)).squeeze(1);
  r = r / r.norm(2, {-1}, true).clamp_min(1e-12);
  at::Tensor out = f.to(at::kFloat) * (1.0 - beta) + r * beta;
  m.output = out / out.norm(2, {-1}, true).clamp_min(1e-12);
  return m;
}

VisualCache::VisualCache(const VisualCacheConfig& config, c10::Device device)
    : config_(config), device_(device) {
  if (config_.path.empty())
    throw ConfigError("model.cache.path is empty",
                      "set it to a directory built by `ibllm build-cache`");
  if (config_.top_k < 1 || config_.chunk_rows < 0)
    throw ConfigError("model.cache.top_k must be >= 1 and model.cache.chunk_rows >= 0");
  if (config_.chunk_rows == 0)
    config_.chunk_rows = device_.is_cpu() ? kCpuChunkRows : kCudaChunkRows;
  manifest_ = read_cache_manifest(config_.path);
  if (config_.top_k > manifest_.count)
    throw ConfigError(fmt::format("model.cache.top_k is {} but the cache {} holds only {} rows",
                                  config_.top_k, config_.path, manifest_.count),
                      "lower top_k or build a larger cache");
  int64_t offset = 0;
  for (const auto& info : manifest_.shards) {
    const std::string p = (std::filesystem::path(config_.path) / info.file).string();
    Shard sh;
    try {
      sh.file = std::make_unique<io::SafetensorsFile>(p);
    } catch (const Error& e) {
      throw DataError("cannot open visual cache shard " + p + ": " + e.what(),
                      "rebuild the index with `ibllm build-cache`");
    }
    if (!sh.file->contains("vectors"))
      throw DataError("visual cache shard " + p + " has no tensor \"vectors\"");
    sh.vectors = sh.file->tensor("vectors");
    if (sh.vectors.scalar_type() != at::kHalf || sh.vectors.dim() != 2 ||
        sh.vectors.size(0) != info.rows || sh.vectors.size(1) != manifest_.dim)
      throw DataError(fmt::format("visual cache shard {}: expected F16 ({}, {}), found {} {}", p,
                                  info.rows, manifest_.dim, c10::toString(sh.vectors.scalar_type()),
                                  c10::str(sh.vectors.sizes())),
                      "rebuild the index with `ibllm build-cache`");
    if (!device_.is_cpu()) sh.vectors = sh.vectors.to(device_);  // resident fp16 copy
    sh.offset = offset;
    offset += info.rows;
    shards_.push_back(std::move(sh));
  }
}

VisualCache::~VisualCache() = default;

at::Tensor VisualCache::check_query(const at::Tensor& f) const {
  if (!f.defined() || f.dim() != 2 || f.size(0) < 1 || f.size(1) != dim() ||
      !at::isFloatingType(f.scalar_type()))
    throw ModelError(fmt::format("visual cache: query must be a float (B, {}) tensor, got {}",
                                 dim(), f.defined() ? c10::str(f.sizes()) : "undefined"),
                     "pass the combined ImageBind feature");
  at::Tensor q = f.to(device_, at::kFloat).contiguous();
  if (!at::isfinite(q).all().item<bool>())
    throw ModelError("visual cache: query feature is not finite");
  return q;
}

CacheHits VisualCache::search(const at::Tensor& f, int64_t k) const {
  if (k < 1 || k > size())
    throw ModelError(fmt::format("visual cache: k = {} must be in [1, {}] (rows in {})", k, size(),
                                 config_.path));
  return search_query(check_query(f), k);
}

CacheHits VisualCache::search_query(const at::Tensor& q, int64_t k) const {
  at::Tensor best_s, best_i;
  for (const auto& sh : shards_) {
    const int64_t rows = sh.vectors.size(0);
    for (int64_t start = 0; start < rows; start += config_.chunk_rows) {
      const int64_t n = std::min(config_.chunk_rows, rows - start);
      const at::Tensor chunk = sh.vectors.narrow(0, start, n).to(at::kFloat);
      const at::Tensor s = at::mm(q, chunk.t());  // (B, n): the only scores held
      auto top = at::topk(s, std::min(k, n), 1, true, true);
      at::Tensor cs = std::get<0>(top);
      at::Tensor ci = std::get<1>(top) + (sh.offset + start);
      if (!best_s.defined()) {
        best_s = cs;
        best_i = ci;
        continue;
      }
      at::Tensor all_s = at::cat({best_s, cs}, 1);
      at::Tensor all_i = at::cat({best_i, ci}, 1);
      auto merged = at::topk(all_s, std::min(k, all_s.size(1)), 1, true, true);
      best_s = std::get<0>(merged);
      best_i = all_i.gather(1, std::get<1>(merged));
    }
  }
  return {best_i, best_s};
}

size_t VisualCache::shard_of(int64_t id) const {
  if (id < 0 || id >= size())
    throw ModelError(fmt::format("visual cache: row id {} out of range [0, {})", id, size()));
  auto it = std::upper_bound(shards_.begin(), shards_.end(), id,
                             [](int64_t v, const Shard& s) { return v < s.offset; });
  return static_cast<size_t>(it - shards_.begin()) - 1;
}

at::Tensor VisualCache::vectors(const at::Tensor& ids) const {
  const at::Tensor flat = ids.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  const int64_t* p = flat.data_ptr<int64_t>();
  std::vector<at::Tensor> rows;
  rows.reserve(static_cast<size_t>(flat.numel()));
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const Shard& sh = shards_[shard_of(p[i])];
    rows.push_back(sh.vectors[p[i] - sh.offset]);
  }
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(dim());
  if (rows.empty()) return at::empty(shape, at::TensorOptions().device(device_));
  return at::stack(rows).to(at::kFloat).reshape(shape);
}

std::string VisualCache::key(int64_t id) const {
  const size_t s = shard_of(id);
  std::call_once(keys_once_, [this] {
    keys_.clear();  // a failed earlier attempt may have left some shards
    for (const auto& sh : shards_) {
      keys_.push_back(
          io::read_row_keys(*sh.file, sh.vectors.size(0),
                            {"visual cache shard", "rebuild the index with `ibllm build-cache`"}));
    }
  });
  return keys_[s][static_cast<size_t>(id - shards_[s].offset)];
}

at::Tensor VisualCache::apply(const at::Tensor& f) const {
  const at::Tensor q = check_query(f);
  const CacheHits hits = search_query(q, config_.top_k);
  const at::Tensor neighbours = vectors(hits.ids);
  return mix_with_neighbours(q, hits.scores, neighbours, config_.temperature, config_.beta)
      .output.to(f.device());
}

}  // namespace ibllm::models
