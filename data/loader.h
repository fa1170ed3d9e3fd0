// The data loader: `num_workers` threads build whole batches (record -> image decode/augment or
// cached feature -> tokens/labels -> collate) ahead of the trainer, at most `prefetch_batches`
// beyond the one being consumed, and hand them out strictly in sampler order, so the batches are
// identical for any worker count. Bad samples (missing/corrupt image) are skipped and counted;
// the epoch aborts with a DataError once skips exceed the configured fraction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/collate.h"
#include "data/data_config.h"
#include "data/dataset.h"
#include "data/image_transform.h"
#include "data/sampler.h"

namespace ibllm::data {

class LlamaTokenizer;

struct LoaderOptions {
  int64_t world_size = 1;
  int64_t rank = 0;
  uint64_t seed = 0;  // sampler permutation, caption choice and augmentation seeds
  bool train = true;  // false: centre crop, no shuffle
  // The run's device is CUDA: batches are pinned in the worker threads (data.pin_memory) so the
  // step's host->device copies are asynchronous. False (a CPU run) never pins.
  bool device_is_cuda = false;
};

struct LoaderStats {
  int64_t seen = 0;       // samples attempted
  int64_t skipped = 0;    // bad samples dropped
  int64_t truncated = 0;  // samples cut to max_words
  int64_t batches = 0;
  std::vector<std::string> first_skips;  // "file:line: reason" of the first log_skips skips
};

class DataLoader {
 public:
  DataLoader(const DataConfig& config, std::shared_ptr<const Dataset> dataset,
             std::shared_ptr<const LlamaTokenizer> tokenizer, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Plans the epoch's batches for this rank from global position `cursor` (a checkpoint's saved
  // Batch::cursor) and starts the workers. Skipping is pure index arithmetic: nothing is loaded.
  void start_epoch(int64_t epoch, int64_t cursor = 0);
  // The next batch in order; std::nullopt at the end of the epoch. Rethrows a worker's error, and
  // throws DataError when no batch arrives within `timeout` (a stalled filesystem never hangs).
  std::optional<Batch> next(std::chrono::milliseconds timeout = std::chrono::minutes(10));
  int64_t batches_in_epoch() const;

  // One sample, exactly as a worker builds it (throws DataError for a bad image).
  Sample load_sample(int64_t index, int64_t epoch) const;

  const Sampler& sampler() const { return sampler_; }
  LoaderStats stats() const;
  // "workers=2 prefetch=4 opencv_threads=1 torch_intra_op_threads=2": logged at construction.
  std::string thread_summary() const;
  // Whether batches come pinned (data.pin_memory, a CUDA run device, and CUDA usable).
  bool pinned() const { return pin_; }

 private:
  void worker_loop();
  void stop_workers();
  Batch build_batch(size_t k);
  void check_skip_limit() const;

  DataConfig config_;
  std::shared_ptr<const Dataset> dataset_;
  std::shared_ptr<const LlamaTokenizer> tokenizer_;
  LoaderOptions options_;
  Sampler sampler_;
  ImageTransform transform_;
  SampleOptions sample_options_;
  CollateOptions collate_options_;
  bool pin_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<int64_t>> plan_;
  int64_t epoch_ = 0;
  int64_t start_cursor_ = 0;
  size_t next_claim_ = 0;
  size_t next_emit_ = 0;
  std::map<size_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  LoaderStats stats_;
};

}  // namespace ibllm::data
