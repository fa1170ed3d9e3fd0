// Format detection by magic bytes and a uniform entry list over the three readers.
#include "src/io/weights_reader.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "src/core/error.h"
#include "src/io/llama_key_map.h"
#include "src/io/pth_reader.h"
#include "src/io/safetensors.h"

namespace ibllm::io {
namespace {
namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
nlohmann::json read_index(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open sharded-checkpoint index");
  try {
    auto j = nlohmann::json::parse(in);
    auto wm = j.find("weight_map");
    if (j.is_object() && wm != j.end() && wm->is_object() && !wm->empty()) return j;
  } catch (const nlohmann::json::exception& e) {  // parse_error, out_of_range (number overflow)
    throw IoError(path + ": index is not well-formed JSON: " + e.what());
  }
  throw IoError(path + ": index has no non-empty \"weight_map\" object",
                "expected {\"metadata\": {...}, \"weight_map\": {tensor: shard file}}");
}

bool is_zip(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  return in.gcount() == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
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
    case WeightsFormat::kPthSharded:
      return "pytorch (sharded index)";
    case WeightsFormat::kPthMetaShards:
      return "pytorch (Meta model-parallel shards)";
  }
  return "?";
}

WeightsFormat detect_weights_format(const std::string& path) {
  if (fs::is_directory(path)) {
    if (fs::exists(fs::path(path) / "model.safetensors.index.json"))
      return WeightsFormat::kSafetensorsSharded;
    if (fs::exists(fs::path(path) / "model.safetensors")) return WeightsFormat::kSafetensors;
    if (fs::exists(fs::path(path) / "consolidated.00.pth")) return WeightsFormat::kPthMetaShards;
    if (fs::exists(fs::path(path) / "pytorch_model.bin.index.json"))
      return WeightsFormat::kPthSharded;
    if (fs::exists(fs::path(path) / "pytorch_model.bin")) return WeightsFormat::kPth;
    throw IoError(path +
                      ": directory holds no model.safetensors, model.safetensors.index.json or "
                      "consolidated.00.pth",
                  "pass the weights file itself");
  }
  if (ends_with(path, ".json")) {  // the shards' content decides: torch.save zips or safetensors
    const auto j = read_index(path);
    const fs::path first =
        fs::path(path).parent_path() / j["weight_map"].begin()->get<std::string>();
    return is_zip(first) ? WeightsFormat::kPthSharded : WeightsFormat::kSafetensorsSharded;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open", "check the path");
  unsigned char head[9] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto n = in.gcount();
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
    return WeightsFormat::kPth;
  // safetensors first: its first byte is the low byte of the header length and may be 0x80.
  // (A legacy torch.save pickle starts 80 02 8a 0a 6c fc 9c 46 f9: byte 8 is never '{'.)
  if (n == 9 && head[8] == '{') return WeightsFormat::kSafetensors;
  if (n >= 1 && head[0] == 0x80) return WeightsFormat::kPth;  // legacy pickle: PthFile explains
  throw IoError(path + ": unknown weights format (neither safetensors nor a torch.save archive)",
                "supported: .safetensors, *.safetensors.index.json, torch.save .pth/.pt/.bin");
}

WeightsReader::WeightsReader(const std::string& path, const std::string& under)
    : path_(path), under_(under), format_(detect_weights_format(path)) {
  if (format_ != WeightsFormat::kPth && !under.empty()) {
    throw IoError(path + ": a container path ('" + under + "') only applies to .pth files");
  }
  std::string file = path;
  if (format_ == WeightsFormat::kPthMetaShards) {
    open_meta_shards();
  } else if (format_ == WeightsFormat::kPthSharded) {
    open_pth_index(
        fs::is_directory(path) ? (fs::path(path) / "pytorch_model.bin.index.json").string() : path);
  } else if (fs::is_directory(path) && format_ == WeightsFormat::kPth) {
    file = (fs::path(path) / "pytorch_model.bin").string();
  } else if (fs::is_directory(path)) {
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
    case WeightsFormat::kPthSharded:
    case WeightsFormat::kPthMetaShards:
      break;  // opened above
  }
  for (size_t k = 0; k < entries_.size(); ++k) {
    if (!index_.emplace(entries_[k].name, k).second) {
      throw IoError(path + ": tensor name '" + entries_[k].name + "' appears twice");
    }
  }
}

// consolidated.00.pth ... consolidated.NN.pth: entries from shard 0, shapes summed along each
// tensor's split dimension; every shard must hold the same keys with compatible shapes.
void WeightsReader::open_meta_shards() {
  if (!under_.empty()) throw IoError(path_ + ": a container path does not apply to Meta shards");
  for (int s = 0;; ++s) {
    char name[32];
    std::snprintf(name, sizeof(name), "consolidated.%02d.pth", s);
    const fs::path p = fs::path(path_) / name;
    if (!fs::exists(p)) break;
    meta_shards_.push_back(std::make_unique<PthFile>(p.string()));
  }
  std::vector<std::map<std::string, PthTensorInfo>> infos;
  for (const auto& shard : meta_shards_) {
    infos.emplace_back();
    for (const auto& t : shard->tensor_infos()) infos.back().emplace(t.name, t);
  }
  for (const auto& t : meta_shards_[0]->tensor_infos()) {
    const int64_t dim = meta_shards_.size() > 1 ? meta_shard_dim(t.name) : -1;
    WeightsEntry e{t.name, t.dtype, t.shape, 0};
    for (size_t s = 1; s < infos.size(); ++s) {
      auto it = infos[s].find(t.name);
      if (it == infos[s].end()) {
        throw IoError(path_ + ": tensor '" + t.name +
                      "' is in consolidated.00.pth but not in shard " + std::to_string(s));
      }
      const auto& o = it->second;
      bool compatible = o.dtype == t.dtype && o.shape.size() == t.shape.size();
      for (size_t d = 0; compatible && d < t.shape.size(); ++d) {
        compatible = static_cast<int64_t>(d) == dim || o.shape[d] == t.shape[d];
      }
      if (!compatible) {
        throw IoError(path_ + ": tensor '" + t.name +
                      "' has incompatible shapes/dtypes across shards");
      }
      if (dim >= 0) e.shape[dim] += o.shape[dim];
    }
    uint64_t n = at::elementSize(e.dtype);
    for (auto d : e.shape) n *= static_cast<uint64_t>(d);
    e.nbytes = n;
    entries_.push_back(std::move(e));
  }
  for (size_t s = 1; s < infos.size(); ++s) {
    if (infos[s].size() != infos[0].size()) {
      throw IoError(path_ + ": shard " + std::to_string(s) +
                    " holds tensors that consolidated.00.pth lacks");
    }
  }
}

// pytorch_model.bin.index.json: like the safetensors index, over torch.save shards. Every listed
// tensor must be in its shard and every shard tensor listed for that shard.
void WeightsReader::open_pth_index(const std::string& index_path) {
  if (!under_.empty()) throw IoError(index_path + ": a container path does not apply to an index");
  const auto j = read_index(index_path);
  const fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, size_t> shard_index;
  std::vector<std::map<std::string, PthTensorInfo>> infos;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string())
      throw IoError(index_path + ": weight_map['" + it.key() + "'] is not a string");
    const std::string shard = it->get<std::string>();
    if (!shard_index.count(shard)) {
      shard_index[shard] = pth_shards_.size();
      pth_shards_.push_back(std::make_unique<PthFile>((dir / shard).string()));
      infos.emplace_back();
      for (const auto& t : pth_shards_.back()->tensor_infos()) infos.back().emplace(t.name, t);
    }
    const size_t s = shard_index[shard];
    auto t = infos[s].find(it.key());
    if (t == infos[s].end()) {
      throw IoError(index_path + ": tensor '" + it.key() + "' is listed in shard " + shard +
                    " but that file does not contain it");
    }
    pth_shard_of_[it.key()] = s;
    entries_.push_back({it.key(), t->second.dtype, t->second.shape, t->second.nbytes});
  }
  for (const auto& [shard, s] : shard_index) {
    for (const auto& [name, info] : infos[s]) {
      auto it = pth_shard_of_.find(name);
      if (it == pth_shard_of_.end() || it->second != s) {
        throw IoError((dir / shard).string() + ": tensor '" + name +
                      "' is not listed for this shard in " + index_path);
      }
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
    case WeightsFormat::kPthSharded:
      return pth_shards_[pth_shard_of_.at(name)]->tensor(name,
                                                         copy ? PthLoad::kCopy : PthLoad::kMap);
    case WeightsFormat::kPthMetaShards: {
      std::vector<at::Tensor> parts;
      for (const auto& shard : meta_shards_)
        parts.push_back(shard->tensor(name, copy ? PthLoad::kCopy : PthLoad::kMap));
      return merge_meta_shard_tensor(name, parts);
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
    case WeightsFormat::kPthSharded:
    case WeightsFormat::kPthMetaShards: {
      std::map<std::string, at::Tensor> out;
      for (const auto& e : entries_) out.emplace(e.name, tensor(e.name));
      return out;
    }
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
