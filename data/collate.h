// Samples -> one batch. `fixed` pads every sequence to max_words (the reference); `dynamic` pads to
// the longest sequence in the batch (pads sit after the text, so under causal attention the logits
// of real positions and hence the loss are unchanged). The batch counts its valid label tokens
// (label positions 1..T-1 that are not ignored) for exact loss normalisation across micro-batches.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/data_config.h"
#include "data/sample_builder.h"

namespace ibllm::data {

struct Sample {
  int64_t index = 0;  // dataset index
  TokenizedSample text;
  at::Tensor visual;        // (3,S,S) image or (D) feature; undefined when has_visual is false
  bool has_visual = false;  // false only for text-only samples under text_only: no_visual
  std::map<std::string, std::string> modalities;
  std::string image;  // resolved image path ("" = text-only)
};

struct Batch {
  at::Tensor tokens;  // (B,T) int64
  at::Tensor labels;  // (B,T) int64, ignore_index where not supervised
  at::Tensor
      images;  // (B,3,S,S) float32 (zeros where has_visual is false); undefined in feature mode
  at::Tensor features;    // (B,D) float32 in feature mode; undefined otherwise
  at::Tensor has_visual;  // (B) bool: inject the visual feature for this sample
  int64_t ignore_index = -100;
  int64_t valid_label_tokens = 0;  // count of labels[:,1:] != ignore_index
  int64_t truncated = 0;           // samples cut to max_words
  int64_t skipped = 0;             // samples of this batch dropped as bad input
  std::vector<int64_t> indices;    // dataset index per row
  std::vector<std::map<std::string, std::string>> modalities;
  int64_t epoch = 0;
  int64_t batch_index = 0;  // within the epoch (counting from the resume point's batch)
  int64_t cursor = 0;  // global samples consumed in this epoch after this batch (checkpoint it)
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

struct CollateOptions {
  PaddingMode padding = PaddingMode::kDynamic;
  int64_t max_words = 96;
  int64_t token_pad = 0;
  int64_t ignore_index = -100;
  bool feature_mode = false;
  int64_t feature_dim = 0;   // feature mode: D (used for empty batches / missing visuals)
  int64_t image_size = 224;  // image mode: S
};

// An empty `samples` gives a batch with B = 0 (still T = max_words in fixed mode).
Batch collate(const std::vector<Sample>& samples, const CollateOptions& o);

// The batch with its tensors on `device`, copied with non_blocking (asynchronous from pinned
// memory: the loader pins for a CUDA run; the caching host allocator keeps the source alive until
// the copy is done). On the batch's own device the tensors are returned as they are.
Batch batch_on(const Batch& b, const at::Device& device);

}  // namespace ibllm::data
