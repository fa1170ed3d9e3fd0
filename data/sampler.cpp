// Sampler: seeded permutation (ATen randperm on a CPU generator, the same stream torch.randperm
// draws in Python, so orders match the reference's DistributedSampler), padding/dropping per
// LastBatch, rank striding, and the cursor arithmetic that makes resume skip without loading.
#include "data/sampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <numeric>

#include "src/core/error.h"

namespace ibllm::data {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

Sampler::Sampler(SamplerOptions o) : o_(o) {
  if (o_.dataset_size <= 0)
    throw DataError("the dataset is empty: nothing to sample",
                    "check data.sources (files, on_malformed: skip may have dropped every row)");
  if (o_.world_size < 1 || o_.rank < 0 || o_.rank >= o_.world_size)
    throw DataError("sampler: rank " + std::to_string(o_.rank) + " outside world size " +
                    std::to_string(o_.world_size));
  if (o_.batch_size < 1 || o_.split_epoch < 1)
    throw DataError("sampler: batch_size and split_epoch must be >= 1");
  if (o_.split_epoch > 1 && o_.last_batch == LastBatch::kPartial)
    throw DataError("sampler: split_epoch > 1 (reference sub-epoch sampler) always pads",
                    "use last_batch: drop or pad");
  if (positions_per_epoch() == 0)
    throw DataError(
        "an epoch has no full batch: " + std::to_string(o_.dataset_size) + " samples over " +
            std::to_string(o_.world_size) + " rank(s)" +
            (o_.split_epoch > 1 ? " and " + std::to_string(o_.split_epoch) + " sub-epochs" : "") +
            " with batch_size " + std::to_string(o_.batch_size) + " and last_batch: drop",
        "lower data.batch_size, or use last_batch: pad or partial");
}

std::vector<int64_t> Sampler::permutation(uint64_t seed) const {
  std::vector<int64_t> out(o_.dataset_size);
  if (!o_.shuffle) {
    std::iota(out.begin(), out.end(), int64_t{0});
    return out;
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor p = at::randperm(o_.dataset_size, gen, at::TensorOptions().dtype(at::kLong));
  std::copy(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + o_.dataset_size, out.begin());
  return out;
}

std::vector<int64_t> Sampler::epoch_order(int64_t epoch) const {
  const int64_t s = o_.split_epoch;
  return permutation(o_.seed + static_cast<uint64_t>(s > 1 ? epoch / s : epoch));
}

int64_t Sampler::positions_per_epoch() const {
  const int64_t n = o_.dataset_size, w = o_.world_size, b = o_.batch_size;
  if (o_.split_epoch > 1) {
    const int64_t per_rank = ceil_div(n, w * o_.split_epoch);
    return (o_.last_batch == LastBatch::kDrop ? per_rank / b * b : per_rank) * w;
  }
  switch (o_.last_batch) {
    case LastBatch::kPartial:
      return n;
    case LastBatch::kPad:
      return ceil_div(n, w) * w;
    case LastBatch::kDrop:
      return ceil_div(n, w) / b * b * w;
  }
  return n;
}

int64_t Sampler::batches_per_epoch() const {
  return ceil_div(positions_per_epoch(), o_.world_size * o_.batch_size);
}

int64_t Sampler::cursor_after(int64_t cursor, int64_t b) const {
  return std::min(positions_per_epoch(), cursor + b * o_.world_size * o_.batch_size);
}

std::vector<std::vector<int64_t>> Sampler::batches(int64_t epoch, int64_t cursor) const {
  const int64_t total = positions_per_epoch();
  if (cursor < 0 || cursor > total)
    throw DataError("resume cursor " + std::to_string(cursor) + " outside the epoch's " +
                        std::to_string(total) + " global samples",
                    "the checkpoint was written with a different dataset or batch layout");
  if (cursor < total && cursor % o_.world_size != 0)
    throw DataError("resume cursor " + std::to_string(cursor) +
                        " is not a multiple of the world size " + std::to_string(o_.world_size),
                    "resume with the world size the checkpoint was written with");
  if (o_.split_epoch > 1) return sub_epoch_batches(epoch, cursor);

  const std::vector<int64_t> order = epoch_order(epoch);
  const int64_t n = o_.dataset_size, w = o_.world_size, b = o_.batch_size, g = w * b;
  std::vector<std::vector<int64_t>> out;
  for (int64_t start = cursor; start < total; start += g) {
    std::vector<int64_t> batch;
    for (int64_t j = 0; j < b; ++j) {
      const int64_t pos = start + o_.rank + w * j;
      if (pos >= total) break;
      batch.push_back(order[pos % n]);  // positions past n wrap (torch pads with the order's head)
    }
    out.push_back(std::move(batch));
  }
  return out;
}

// Reference DistributedSubEpochSampler: permutation seeded by seed + epoch / split, padded with its
// own head to a multiple of world·split; rank r takes every (world·split)-th index starting at
// r·split + epoch % split. Global position p of this sub-epoch is the (p / world)-th index of rank
// p % world.
std::vector<std::vector<int64_t>> Sampler::sub_epoch_batches(int64_t epoch, int64_t cursor) const {
  const int64_t n = o_.dataset_size, w = o_.world_size, s = o_.split_epoch, b = o_.batch_size;
  const std::vector<int64_t> order = epoch_order(epoch);
  const int64_t used = positions_per_epoch() / w;
  std::vector<int64_t> mine;
  const int64_t first = o_.rank * s + epoch % s;
  for (int64_t k = cursor / w; k < used; ++k) mine.push_back(order[(first + k * w * s) % n]);
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < mine.size(); i += b)
    out.emplace_back(mine.begin() + i, mine.begin() + std::min(mine.size(), i + b));
  return out;
}

}  // namespace ibllm::data
