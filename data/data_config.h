// DataConfig: everything that feeds the trainer — the sources (kind, files, weights, roots,
// feature caches), sample construction (template masking mode, max_words, text-only policy), the
// sampler (shuffle, sharding, sub-epochs, last-batch policy) and the loader (workers, prefetch,
// thread counts, bad-input limits). Defaults are for new configs; `mask: reference` and
// `padding: fixed` restore the official behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_transform.h"

namespace ibllm::config {
class Section;
}

namespace ibllm::data {

enum class SourceKind { kCaptionTsv, kLlava, kAlpaca, kJsonl };
enum class MaskMode { kReference, kExact };
enum class TextOnlyMode { kReference, kNoVisual };
enum class LlavaTurns { kFirst, kAll };
enum class PaddingMode { kFixed, kDynamic };
enum class LastBatch { kDrop, kPad, kPartial };
enum class MalformedPolicy { kError, kSkip };

struct SourceConfig {
  SourceKind kind = SourceKind::kCaptionTsv;
  std::string path;  // the TSV/JSON/JSONL file
  std::string
      image_root;  // images and other modality paths are relative to this; "" = the file's dir
  double weight =
      1.0;  // epoch share: each row appears `weight` times per epoch (fractions sampled)
  std::string features;  // feature cache (.safetensors); "" = decode images
};

struct DataConfig {
  std::vector<SourceConfig> sources;
  std::vector<SourceConfig> val_sources;  // validation set (eval loss/ppl); same format as sources
  std::string tokenizer;  // LLaMA tokenizer.model
  int64_t max_words = 96;
  MaskMode mask = MaskMode::kExact;
  int64_t ignore_index = -100;  // label fill for prompt/pad in exact mode (reference: 0)
  TextOnlyMode text_only = TextOnlyMode::kReference;
  LlavaTurns llava_turns = LlavaTurns::kFirst;
  PaddingMode padding = PaddingMode::kDynamic;
  int64_t max_text_bytes = 65536;  // longer instruction/answer texts are clipped (and counted)

  bool augment = true;  // RandomResizedCrop (reference training) vs centre crop
  ImageTransformConfig image;

  int64_t batch_size = 4;  // per rank
  bool shuffle = true;
  int64_t split_epoch = 1;  // >1: the reference DistributedSubEpochSampler
  LastBatch last_batch = LastBatch::kDrop;

  int num_workers = 2;
  int prefetch_batches = 4;
  int opencv_threads = 1;
  int worker_intra_op_threads = 1;  // OpenMP threads each loader worker's tensor ops may use
  bool pin_memory = true;           // only when the run device is CUDA

  MalformedPolicy on_malformed = MalformedPolicy::kError;
  double max_skip_fraction = 0.01;
  int64_t skip_grace = 16;  // this many skips are always tolerated
  int64_t log_skips = 10;   // first N skipped samples are logged with file:line
};

DataConfig parse_data_config(config::Section s);

}  // namespace ibllm::data
