// The training/eval dataset: every source file parsed into Records (caption TSV, LLaVA JSON,
// Alpaca JSON, JSON Lines), joined into one index space in which each source appears `weight`
// times per epoch. Malformed rows either fail with file:line (before training starts) or are
// skipped and counted (on_malformed: skip); empty answers and oversized texts are counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/data_config.h"
#include "data/feature_cache.h"
#include "data/record.h"

namespace ibllm::data {

// Modality columns/keys carried through to samples for evaluation sets.

struct DatasetStats {
  int64_t rows = 0;                         // usable records
  int64_t malformed = 0;                    // rows skipped as malformed (on_malformed: skip)
  int64_t empty_answers = 0;                // rows skipped because their answer/caption is empty
  int64_t clipped_texts = 0;                // texts cut to max_text_bytes
  std::vector<std::string> first_problems;  // "file:line: reason" for the first few skipped rows
};

class Dataset {
 public:
  // Parses every source now; throws DataError for unreadable files, missing columns, malformed
  // rows (on_malformed: error) and an empty result. `seed` fixes fractional-weight subsets.
  Dataset(const DataConfig& config, uint64_t seed = 0);

  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  const Record& record(int64_t i) const;
  // "path:line" of a record, for messages.
  std::string where(const Record& r) const;
  const DatasetStats& stats() const { return stats_; }
  const DataConfig& config() const { return config_; }
  // Feature cache of a source (nullptr when it decodes images).
  const FeatureCache* features(int32_t source) const { return caches_.at(source).get(); }
  bool uses_features() const { return uses_features_; }
  int64_t feature_dim() const;
  int64_t records() const { return static_cast<int64_t>(records_.size()); }

 private:
  void load_source(int32_t s);
  void add_problem(const std::string& path, int64_t line, const std::string& why);
  DataConfig config_;
  std::vector<Record> records_;
  std::vector<int64_t> index_;
  std::vector<std::shared_ptr<FeatureCache>> caches_;
  bool uses_features_ = false;
  DatasetStats stats_;
};

}  // namespace ibllm::data
