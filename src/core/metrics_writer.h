// Append-only metrics.jsonl: one JSON object per line, flushed after every record so a crash
// loses nothing and a resumed run appends after the previous run's lines (never truncates).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace ibllm::core {

class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path);  // creates parent dirs; IoError on failure
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  void write(const nlohmann::json& record);  // must be an object
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

// Reads every line of a metrics.jsonl (tests, resume checks). A torn last line (crash mid-write)
// is ignored; a malformed line elsewhere throws IoError naming the line.
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace ibllm::core
