// Which dataset indices each rank reads, batch by batch. One epoch is a sequence of "global
// positions" (the seeded permutation, identical on every rank, padded or not per LastBatch); global
// batch k holds positions [cursor + k·G, cursor + (k+1)·G) with G = world·batch, and rank r takes
// those ≡ r (mod world) — exactly torch's DistributedSampler + DataLoader layout when cursor = 0.
// The resume cursor counts global positions, so resuming skips indices without loading anything.
// split_epoch > 1 is the reference DistributedSubEpochSampler (spec §3.6).
#pragma once

#include <cstdint>
#include <vector>

#include "data/data_config.h"

namespace ibllm::data {

struct SamplerOptions {
  int64_t dataset_size = 0;
  int64_t batch_size = 1;  // per rank
  int64_t world_size = 1;
  int64_t rank = 0;
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t split_epoch = 1;
  LastBatch last_batch = LastBatch::kDrop;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions o);

  // The epoch's order of dataset indices by global position (before rank sharding), the same on
  // every rank: torch.randperm(n, generator seeded with seed + epoch) when shuffling.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // This rank's batches for `epoch`, resuming after `cursor` global positions (0 = epoch start).
  // Every rank gets the same number of batches; with last_batch: partial the last one may be
  // smaller on some ranks (even empty).
  std::vector<std::vector<int64_t>> batches(int64_t epoch, int64_t cursor = 0) const;
  // Global positions in one epoch (the cursor value at the end of the epoch).
  int64_t positions_per_epoch() const;
  // Batches per rank in a full epoch.
  int64_t batches_per_epoch() const;
  // Global positions consumed after `b` full global batches from `cursor`.
  int64_t cursor_after(int64_t cursor, int64_t b) const;
  const SamplerOptions& options() const { return o_; }

 private:
  std::vector<int64_t> permutation(uint64_t seed) const;
  std::vector<std::vector<int64_t>> sub_epoch_batches(int64_t epoch, int64_t cursor) const;
  SamplerOptions o_;
};

}  // namespace ibllm::data
