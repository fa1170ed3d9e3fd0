// DataLoader: ordered, bounded multi-threaded batch production (see header). Workers claim batch
// numbers in order but may finish out of order; the consumer waits for exactly the next number.
#include "data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#endif

#include "data/tokenizer.h"
#include "src/core/error.h"

namespace ibllm::data {

namespace {

SamplerOptions sampler_options(const DataConfig& c, const Dataset& d, const LoaderOptions& o) {
  SamplerOptions s;
  s.dataset_size = d.size();
  s.batch_size = c.batch_size;
  s.world_size = o.world_size;
  s.rank = o.rank;
  s.shuffle = c.shuffle && o.train;
  s.seed = o.seed;
  s.split_epoch = c.split_epoch;
  s.last_batch = c.last_batch;
  return s;
}

// LibTorch's CPU ops parallelise with OpenMP; a fresh std::thread starts with the process default
// team size (all cores), so every worker would fan out to every core. omp_set_num_threads only
// changes the calling thread's setting (at::set_num_threads would change the trainer's too). It is
// looked up at run time so a non-OpenMP LibTorch build simply skips it.
using OmpSetNumThreads = void (*)(int);
OmpSetNumThreads omp_set_num_threads_fn() {
  static OmpSetNumThreads fn =
      reinterpret_cast<OmpSetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  return fn;
}

}  // namespace

DataLoader::DataLoader(const DataConfig& config, std::shared_ptr<const Dataset> dataset,
                       std::shared_ptr<const LlamaTokenizer> tokenizer, LoaderOptions options)
    : config_(config),
      dataset_(std::move(dataset)),
      tokenizer_(std::move(tokenizer)),
      options_(options),
      sampler_(sampler_options(config_, *dataset_, options_)),
      transform_(config_.image) {
  if (!tokenizer_) throw DataError("DataLoader needs a tokenizer");
  sample_options_.mask = config_.mask;
  sample_options_.max_words = config_.max_words;
  sample_options_.ignore_index = config_.ignore_index;
  collate_options_.padding = config_.padding;
  collate_options_.max_words = config_.max_words;
  collate_options_.token_pad = sample_options_.token_pad();
  collate_options_.ignore_index = sample_options_.label_ignore();
  collate_options_.feature_mode = dataset_->uses_features();
  collate_options_.feature_dim = dataset_->feature_dim();
  collate_options_.image_size = config_.image.size;
  pin_ = config_.pin_memory && options_.device_is_cuda && at::hasCUDA();
#if IBLLM_WITH_OPENCV
  // OpenCV's own pool would multiply with our workers: set it explicitly (0 = OpenCV
  // single-threaded).
  cv::setNumThreads(config_.opencv_threads);
#endif
  spdlog::info("data: {} samples from {} records, {}", dataset_->size(), dataset_->records(),
               thread_summary());
}

DataLoader::~DataLoader() { stop_workers(); }

std::string DataLoader::thread_summary() const {
  return "workers=" + std::to_string(config_.num_workers) +
         " prefetch=" + std::to_string(config_.prefetch_batches) +
         " opencv_threads=" + std::to_string(config_.opencv_threads) +
         " worker_intra_op_threads=" + std::to_string(config_.worker_intra_op_threads) +
         (omp_set_num_threads_fn() ? "" : "(no OpenMP)") +
         " torch_intra_op_threads=" + std::to_string(at::get_num_threads()) +
         (pin_ ? " pinned" : "");
}

int64_t DataLoader::batches_in_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(plan_.size());
}

LoaderStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void DataLoader::start_epoch(int64_t epoch, int64_t cursor) {
  stop_workers();
  auto plan = sampler_.batches(epoch, cursor);
  {
    std::lock_guard<std::mutex> lock(mu_);
    plan_ = std::move(plan);
    epoch_ = epoch;
    start_cursor_ = cursor;
    next_claim_ = 0;
    next_emit_ = 0;
    ready_.clear();
    error_ = nullptr;
    stop_ = false;
  }
  for (int i = 0; i < config_.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Sample DataLoader::load_sample(int64_t index, int64_t epoch) const {
  const Record& r = dataset_->record(index);
  Sample s;
  s.index = index;
  s.image = r.image;
  s.modalities = r.modalities;
  s.text = build_sample(r, *tokenizer_, sample_options_, options_.seed, epoch, index);
  const FeatureCache* cache = dataset_->features(r.source);
  try {
    if (!r.image_key.empty()) {
      s.has_visual = true;
      if (cache) {
        s.visual = cache->get(r.image_key);
      } else if (options_.train && config_.augment) {
        s.visual = transform_.train(r.image, mix_seed(mix_seed(options_.seed, epoch), index));
      } else {
        s.visual = transform_.eval(r.image);
      }
    } else if (config_.text_only == TextOnlyMode::kReference) {
      // Reference: text-only samples still inject the feature of an all-zero normalised image.
      s.has_visual = true;
      s.visual = cache ? cache->get("") : at::zeros({3, config_.image.size, config_.image.size});
    }
  } catch (const DataError& e) {
    throw DataError(dataset_->where(r) + ": " + e.what());
  }
  return s;
}

Batch DataLoader::build_batch(size_t k) {
  std::vector<int64_t> indices;
  {
    std::lock_guard<std::mutex> lock(mu_);
    indices = plan_[k];
  }
  std::vector<Sample> samples;
  samples.reserve(indices.size());
  int64_t skipped = 0;
  for (int64_t idx : indices) {
    try {
      samples.push_back(load_sample(idx, epoch_));
    } catch (const DataError& e) {
      ++skipped;
      std::lock_guard<std::mutex> lock(mu_);
      if (static_cast<int64_t>(stats_.first_skips.size()) < config_.log_skips) {
        stats_.first_skips.push_back(e.what());
        spdlog::warn("data: skipping sample {}: {}", idx, e.what());
      }
    }
  }
  Batch b = collate(samples, collate_options_);
  b.skipped = skipped;
  b.epoch = epoch_;
  b.batch_index = static_cast<int64_t>(k);
  b.cursor = sampler_.cursor_after(start_cursor_, static_cast<int64_t>(k) + 1);
  if (pin_) {
    b.tokens = b.tokens.pin_memory();
    b.labels = b.labels.pin_memory();
    if (b.images.defined()) b.images = b.images.pin_memory();
    if (b.features.defined()) b.features = b.features.pin_memory();
    if (b.has_visual.defined()) b.has_visual = b.has_visual.pin_memory();
  }
  return b;
}

void DataLoader::worker_loop() {
  if (auto fn = omp_set_num_threads_fn()) fn(config_.worker_intra_op_threads);
  for (;;) {
    size_t k;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || error_ ||
               (next_claim_ < plan_.size() &&
                next_claim_ < next_emit_ + static_cast<size_t>(config_.prefetch_batches));
      });
      if (stop_ || error_ || next_claim_ >= plan_.size()) return;
      k = next_claim_++;
    }
    try {
      Batch b = build_batch(k);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(k, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

void DataLoader::check_skip_limit() const {
  if (stats_.skipped <= config_.skip_grace) return;
  if (static_cast<double>(stats_.skipped) <=
      config_.max_skip_fraction * static_cast<double>(stats_.seen))
    return;
  std::string first;
  for (const auto& s : stats_.first_skips) first += "\n  " + s;
  throw DataError("too many bad samples: " + std::to_string(stats_.skipped) + " of " +
                      std::to_string(stats_.seen) + " skipped (limit: more than skip_grace=" +
                      std::to_string(config_.skip_grace) + " and max_skip_fraction=" +
                      std::to_string(config_.max_skip_fraction) + "); first ones:" + first,
                  "fix or remove the listed files, or raise data.max_skip_fraction");
}

std::optional<Batch> DataLoader::next(std::chrono::milliseconds timeout) {
  Batch b;
  if (config_.num_workers == 0) {
    size_t k;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_emit_ >= plan_.size()) return std::nullopt;
      k = next_emit_;
    }
    b = build_batch(k);
    std::lock_guard<std::mutex> lock(mu_);
    ++next_emit_;
  } else {
    std::unique_lock<std::mutex> lock(mu_);
    if (next_emit_ >= plan_.size()) return std::nullopt;
    const size_t k = next_emit_;
    const bool arrived =
        cv_.wait_for(lock, timeout, [&] { return error_ || ready_.count(k) != 0; });
    if (ready_.count(k) == 0) {
      if (error_) std::rethrow_exception(error_);
      if (!arrived)
        throw DataError("data loader stalled: batch " + std::to_string(k) + " of epoch " +
                            std::to_string(epoch_) + " not ready after " +
                            std::to_string(timeout.count()) + " ms",
                        "check the image storage, or raise data.num_workers");
    }
    b = std::move(ready_.at(k));
    ready_.erase(k);
    ++next_emit_;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.seen += b.size() + b.skipped;
  stats_.skipped += b.skipped;
  stats_.truncated += b.truncated;
  ++stats_.batches;
  check_skip_limit();
  return b;
}

}  // namespace ibllm::data
