// One dataset row after parsing, before tokenisation: the conversation turns (a caption row is one
// turn "Generate caption of this image" -> caption), the image (or none for text-only rows), other
// modality paths, and where it came from (file:line) for every error and skip message.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ibllm::data {

struct Turn {
  std::string instruction;
  std::string input;                 // Alpaca "input"; empty for most rows
  std::vector<std::string> answers;  // >1 only for caption lists: one is chosen per epoch
};

struct Record {
  std::vector<Turn> turns;
  std::string image;      // resolved image path ("" = text-only row)
  std::string image_key;  // the path as written in the file (feature-cache key)
  std::map<std::string, std::string> modalities;  // audio/video/point/depth/thermal/imu -> path
  int32_t source = 0;                             // index into Dataset::sources()
  int64_t line = 0;                               // 1-based line in the source file
};

}  // namespace ibllm::data
