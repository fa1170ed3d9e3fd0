// metrics.jsonl writer/reader (see metrics_writer.h).
#include "src/core/metrics_writer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "src/core/error.h"

namespace ibllm::core {

namespace {
// A run killed mid-write leaves an incomplete last record (no trailing newline). It is not a valid
// record, so it is cut off before appending; every complete record is kept.
void drop_torn_tail(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return;
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.back() == '\n') return;
  auto nl = data.rfind('\n');
  size_t keep = nl == std::string::npos ? 0 : nl + 1;
  in.close();
  std::filesystem::resize_file(path, keep, ec);
  if (ec) throw IoError("cannot repair torn last line of '" + path + "': " + ec.message());
  spdlog::warn("{}: dropped an incomplete last record ({} bytes) left by an interrupted run", path,
               data.size() - keep);
}
}  // namespace

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  drop_torn_tail(path);
  f_ = std::fopen(path.c_str(), "ab");
  if (!f_)
    throw IoError("cannot open metrics file '" + path + "' for appending: " + std::strerror(errno),
                  "check that the run directory is writable");
}

MetricsWriter::~MetricsWriter() {
  if (f_) std::fclose(f_);
}

void MetricsWriter::write(const nlohmann::json& record) {
  if (!record.is_object()) throw IoError("metrics record must be a JSON object");
  std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    throw IoError("write to '" + path_ + "' failed: " + std::strerror(errno),
                  "the disk may be full");
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError("cannot open metrics file '" + path + "'");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  for (size_t lineno = 1; pos < data.size(); ++lineno) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // incomplete last record of an interrupted writer
    std::string line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      throw IoError(path + ":" + std::to_string(lineno) + ": malformed metrics line: " + e.what());
    }
  }
  return out;
}

}  // namespace ibllm::core
