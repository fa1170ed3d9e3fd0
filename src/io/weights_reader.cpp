// Format detection by magic bytes and a uniform entry list over the three readers.
#include "src/io/weights_reader.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "src/core/error.h"
#include "src/io/pth_reader.h"
#include "src/io/safetensors.h"

namespace ibllm::io {
namespace {
namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

const char* weights_format_name(WeightsFormat f) {
  switch (f) {
    case WeightsFormat::kSafetensors:
      return "safetensors";
    case WeightsFormat::kSafetensorsSharded:
      return "safetensors (sharded)";
    case WeightsFormat::kPth:
      return "pytorch (torch.save)";
  }
  return "?";
}

WeightsFormat detect_weights_format(const std::string& path) {
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "model.safetensors.index.json"))
      return WeightsFormat::kSafetensorsSharded;
    if (fs::exists(fs::path(path) / "model.safetensors")) return WeightsFormat::kSafetensors;
    throw IoError(path + ": directory holds no model.safetensors or model.safetensors.index.json",
                  "pass the weights file itself");
  }
  if (ends_with(path, ".json")) return WeightsFormat::kSafetensorsSharded;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open", "check the path");
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto n = in.gcount();
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
    return WeightsFormat::kPth;
  if (n >= 1 && head[0] == 0x80) return WeightsFormat::kPth;  // legacy pickle: PthFile explains
  if (n == 9 && head[8] == '{') return WeightsFormat::kSafetensors;
  throw IoError(path + ": unknown weights format (neither safetensors nor a torch.save archive)",
                "supported: .safetensors, *.safetensors.index.json, torch.save .pth/.pt/.bin");
}

WeightsReader::WeightsReader(const std::string& path, const std::string& under)
    : path_(path), under_(under), format_(detect_weights_format(path)) {
  if (format_ != WeightsFormat::kPth && !under.empty()) {
    throw IoError(path + ": a container path ('" + under + "') only applies to .pth files");
  }
  std::string file = path;
  if (fs::is_directory(path)) {
    file =
        (fs::path(path) / (format_ == WeightsFormat::kSafetensors ? "model.safetensors"
                                                                  : "model.safetensors.index.json"))
            .string();
  }
  switch (format_) {
    case WeightsFormat::kSafetensors:
      st_ = std::make_unique<SafetensorsFile>(file);
      for (const auto& [name, e] : st_->entries())
        entries_.push_back({name, e.dtype, e.shape, e.nbytes()});
      break;
    case WeightsFormat::kSafetensorsSharded:
      sharded_ = std::make_unique<ShardedSafetensors>(file);
      for (const auto& name : sharded_->names()) {
        const auto& e = sharded_->entry(name);
        entries_.push_back({name, e.dtype, e.shape, e.nbytes()});
      }
      break;
    case WeightsFormat::kPth:
      pth_ = std::make_unique<PthFile>(file);
      for (const auto& t : pth_->tensor_infos(under))
        entries_.push_back({t.name, t.dtype, t.shape, t.nbytes});
      break;
  }
  for (size_t k = 0; k < entries_.size(); ++k) {
    if (!index_.emplace(entries_[k].name, k).second) {
      throw IoError(path + ": tensor name '" + entries_[k].name + "' appears twice");
    }
  }
}

WeightsReader::~WeightsReader() = default;

const WeightsEntry& WeightsReader::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    throw IoError(path_ + ": no tensor named '" + name + "'",
                  "list the tensors with `ibllm inspect " + path_ + "`");
  }
  return entries_[it->second];
}

at::Tensor WeightsReader::tensor(const std::string& name, bool copy) const {
  entry(name);  // uniform "no tensor named" error
  switch (format_) {
    case WeightsFormat::kSafetensors:
      return copy ? st_->tensor_copy(name) : st_->tensor(name);
    case WeightsFormat::kSafetensorsSharded:
      return copy ? sharded_->tensor_copy(name) : sharded_->tensor(name);
    case WeightsFormat::kPth: {
      const std::string full = under_.empty() ? name : under_ + "/" + name;
      return pth_->tensor(full, copy ? PthLoad::kCopy : PthLoad::kMap);
    }
  }
  return {};
}

std::map<std::string, at::Tensor> WeightsReader::tensors() const {
  switch (format_) {
    case WeightsFormat::kSafetensors:
      return st_->tensors();
    case WeightsFormat::kSafetensorsSharded:
      return sharded_->tensors();
    case WeightsFormat::kPth:
      return pth_->tensors(under_);
  }
  return {};
}

std::map<std::string, std::string> WeightsReader::metadata() const {
  if (st_) return st_->metadata();
  if (sharded_) return sharded_->metadata();
  return {};
}

std::map<std::string, at::Tensor> read_weights(const std::string& path, const std::string& under) {
  return WeightsReader(path, under).tensors();
}

}  // namespace ibllm::io
