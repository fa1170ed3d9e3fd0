// Reader for PyTorch `torch.save` files (the zip format of PyTorch >= 1.6) without Python: the zip
// container through LibTorch's caffe2::serialize::PyTorchStreamReader, the pickle through our own
// unpickler (src/io/pickle.h). Opening a file parses only data.pkl; tensor data is read lazily, one
// storage at a time, either aliasing a private memory map of the file or copied with pread, so a
// 13 GB checkpoint never needs 13 GB (let alone 26 GB) of RAM. Legacy pre-zip files, TorchScript
// archives and unsupported constructs fail with an IoError naming the file and the construct.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "src/io/pickle.h"

namespace caffe2::serialize {
class PyTorchStreamReader;
}

namespace ibllm::io {

class MappedFile;

enum class PthLoad {
  kMap,   // tensors alias a private (copy-on-write) mapping of the file; pages load on first touch
  kCopy,  // tensors own memory filled with pread (bounded RSS when streaming tensor by tensor)
};

struct PthTensorInfo {
  std::string name;  // flattened path: container keys joined with '/' ("model/llama.norm.weight")
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
  bool is_parameter = false;
  std::string storage_key;  // "" for tensors stored inside the pickle (numpy arrays)
};

// A non-tensor leaf (number, string, None, object attribute, ...) for inspection.
struct PthValueInfo {
  std::string name;
  std::string type;
  std::string repr;
};

class PthFile {
 public:
  explicit PthFile(const std::string& path);
  ~PthFile();
  PthFile(const PthFile&) = delete;
  PthFile& operator=(const PthFile&) = delete;

  const std::string& path() const { return path_; }
  const PickleValue& root() const { return *root_; }
  // Non-fatal notes from parsing ("argparse.Namespace kept as an inspectable object").
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The value at a '/'-separated path ("" = root, "model", "optimizer/state/0"); throws if absent.
  const PickleValue& at_path(const std::string& path) const;
  // Every tensor reachable from `under` (names relative to it), in pickle order.
  std::vector<PthTensorInfo> tensor_infos(const std::string& under = "") const;
  std::vector<PthValueInfo> value_infos(const std::string& under = "") const;

  // One tensor by flattened name. kCopy reads only the bytes this view spans.
  at::Tensor tensor(const std::string& name, PthLoad mode = PthLoad::kMap) const;
  // All tensors under `under` (e.g. "model" for {"model": state_dict}); views of one storage share
  // it in the result, like torch.load.
  std::map<std::string, at::Tensor> tensors(const std::string& under = "",
                                            PthLoad mode = PthLoad::kMap) const;
  at::Tensor load(const TensorRef& ref, PthLoad mode = PthLoad::kMap) const;

 private:
  struct Record {
    uint64_t offset = 0;
    bool stored = false;  // uncompressed, readable in place
  };
  const Record& record(const StorageRef& s) const;
  // A zip record's declared (uncompressed) size and its bytes; LibTorch's c10::Error becomes an
  // IoError naming the file and the record.
  uint64_t record_size(const std::string& name) const;
  std::tuple<at::DataPtr, size_t> read_record(const std::string& name) const;
  at::Tensor storage_tensor(const StorageRef& s, PthLoad mode) const;  // whole storage, 1-D bytes
  at::Tensor read_span(const StorageRef& s, uint64_t begin, uint64_t length) const;

  std::string path_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip_;
  std::string archive_prefix_;  // "<archive>/" in front of record names
  PickleRef root_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::shared_ptr<StorageRef>> storages_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  mutable std::mutex mu_;
  mutable std::shared_ptr<MappedFile> map_;
  mutable std::map<std::string, Record> records_;
  std::set<std::string> stored_records_;  // records the zip directory lists as stored (method 0)
  mutable std::map<std::string, at::Tensor> mapped_storages_;
};

// Convenience: all tensors under `under` of a .pth file (mapped, zero-copy).
std::map<std::string, at::Tensor> read_pth(const std::string& path, const std::string& under = "");

// Visits every tensor and non-tensor leaf below `v`, with '/'-joined paths.
void walk_pickle(const PickleValue& v, const std::string& prefix,
                 const std::function<void(const std::string&, const TensorRef&)>& on_tensor,
                 const std::function<void(const std::string&, const PickleValue&)>& on_value);

}  // namespace ibllm::io
