// `ibllm inspect` as a library function: what a weights file holds (tensor names, dtypes, shapes,
// bytes; totals per dtype; safetensors metadata; for .pth files also the non-tensor entries such
// as epoch or argparse arguments, and the reader's warnings). Reads no tensor data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/io/pth_reader.h"
#include "src/io/weights_reader.h"

namespace ibllm::io {

struct WeightsSummary {
  std::string path;
  std::string format;
  std::vector<WeightsEntry> tensors;
  std::map<std::string, std::string> metadata;
  std::vector<PthValueInfo> values;  // .pth only
  std::vector<std::string> warnings;
  uint64_t total_bytes = 0;
  int64_t total_elements = 0;
  std::map<std::string, int64_t> elements_by_dtype;  // "F16" -> count
  std::map<std::string, int64_t> tensors_by_dtype;
};

WeightsSummary inspect_weights(const std::string& path);

// Human-readable listing. At most `max_tensors` tensor lines (the rest are counted).
std::string format_weights_summary(const WeightsSummary& summary, size_t max_tensors = SIZE_MAX);

// "1.23 GB", "512 B" (decimal units, as file sizes are usually quoted).
std::string human_bytes(uint64_t bytes);

}  // namespace ibllm::io
