// One way to open any weights file a user brings: a .safetensors file, a sharded
// `*.safetensors.index.json` (or a directory holding one), a torch.save `.pth`/`.pt`/`.bin`, a
// `pytorch_model.bin.index.json` over torch.save shards, or a directory of Meta model-parallel
// shards `consolidated.0N.pth` (merged tensor by tensor).
// The format is decided by magic bytes, not the extension. Entries are known without reading
// tensor data; tensors are then fetched one at a time (mapped, or copied for bounded memory).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ibllm::io {

class SafetensorsFile;
class ShardedSafetensors;
class PthFile;

enum class WeightsFormat {
  kSafetensors,
  kSafetensorsSharded,  // model.safetensors.index.json
  kPth,
  kPthSharded,     // pytorch_model.bin.index.json (HF shards saved with torch.save)
  kPthMetaShards,  // consolidated.00.pth, .01, ... (model-parallel, merged per tensor)
};

WeightsFormat detect_weights_format(const std::string& path);
const char* weights_format_name(WeightsFormat format);

struct WeightsEntry {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
};

class WeightsReader {
 public:
  // `under`: for .pth files, the container holding the tensors ("model" for {"model": state_dict});
  // "" = everything. Must be "" for safetensors.
  explicit WeightsReader(const std::string& path, const std::string& under = "");
  ~WeightsReader();

  const std::string& path() const { return path_; }
  WeightsFormat format() const { return format_; }
  const std::vector<WeightsEntry>& entries() const { return entries_; }
  const WeightsEntry& entry(const std::string& name) const;
  // copy=false: zero-copy view of the mapped file; copy=true: owned memory read with pread.
  at::Tensor tensor(const std::string& name, bool copy = false) const;
  std::map<std::string, at::Tensor> tensors() const;
  std::map<std::string, std::string> metadata()
      const;                                         // safetensors __metadata__ (or index metadata)
  const PthFile* pth() const { return pth_.get(); }  // non-tensor values, warnings

 private:
  void open_meta_shards();
  void open_pth_index(const std::string& index_path);

  std::string path_;
  std::string under_;
  WeightsFormat format_;
  std::unique_ptr<SafetensorsFile> st_;
  std::unique_ptr<ShardedSafetensors> sharded_;
  std::unique_ptr<PthFile> pth_;
  std::vector<std::unique_ptr<PthFile>> meta_shards_;  // consolidated.00.pth, .01, ...
  std::vector<std::unique_ptr<PthFile>> pth_shards_;   // kPthSharded
  std::map<std::string, size_t> pth_shard_of_;
  std::vector<WeightsEntry> entries_;
  std::map<std::string, size_t> index_;
};

// All tensors of any supported weights file (mapped, zero-copy).
std::map<std::string, at::Tensor> read_weights(const std::string& path,
                                               const std::string& under = "");

}  // namespace ibllm::io
