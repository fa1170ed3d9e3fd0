// KV cache for batched incremental decoding (spec §5.3, without its batch-1/512 limits): sized to
// the request, one (B, Hkv, capacity, hd) pair per layer, plus the per-sequence left padding of a
// batch of prompts of different lengths (positions restart at 0 after each sequence's padding and
// padded key columns are masked out).
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "models/llama/attention.h"

namespace ibllm::models {

struct KVCache {
  std::vector<LayerKV> layers;
  int64_t length = 0;    // columns filled so far (the next token's column)
  int64_t capacity = 0;  // columns allocated
  at::Tensor pad;        // (B) int64 left-padding width per sequence, or undefined (no padding)
  at::Tensor key_valid;  // (B, capacity) bool, false on padding columns; undefined when no padding

  int64_t batch() const { return layers.empty() ? 0 : layers.front().k.size(0); }
};

}  // namespace ibllm::models
