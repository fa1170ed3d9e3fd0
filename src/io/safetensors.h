// safetensors read/write. Format: u64-LE header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {str: str}}, then the buffer.
// Reads are memory-mapped and zero-copy (tensors alias the mapping and keep it alive); every
// structural rule is validated up front so a bad file fails with its name and the tensor at fault.
// Writes sort tensors by element size (largest first) and pad the header to 8 bytes, so every
// tensor starts aligned to its element size.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ibllm::io {

class MappedFile;

// Reads a .safetensors file, a sharded checkpoint's `*.safetensors.index.json`, or a directory
// holding `model.safetensors` / `model.safetensors.index.json`. Tensors alias the mapped files.
std::map<std::string, at::Tensor> read_safetensors(const std::string& path);

// Writes atomically (to `path.tmp`, then renamed). Tensors may be on any device or non-contiguous.
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// "F32" <-> at::kFloat for the ten dtypes LibTorch and safetensors share. Unknown names throw.
at::ScalarType safetensors_dtype(const std::string& name);
std::string safetensors_dtype_name(at::ScalarType dtype);  // throws IoError when not representable

struct SafetensorsEntry {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the buffer
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
};

// One mapped, validated file. Cheap to open (only the header is parsed; tensor pages are read by
// the OS when first touched).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const;
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;  // throws IoError if absent
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Zero-copy view of the mapping (copied only if the file stores it misaligned for its dtype).
  at::Tensor tensor(const std::string& name) const;
  std::map<std::string, at::Tensor> tensors() const;

  uint64_t header_length() const { return header_length_; }
  const uint8_t* buffer() const;  // first byte after the header
  uint64_t buffer_size() const { return buffer_size_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint64_t header_length_ = 0;
  uint64_t buffer_size_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint split into shards listed by `model.safetensors.index.json`
// ({"metadata": {...}, "weight_map": {tensor: shard file}}). Validates that every listed tensor is
// in its shard and every shard tensor is listed exactly once.
class ShardedSafetensors {
 public:
  explicit ShardedSafetensors(const std::string& index_path);
  std::vector<std::string> names() const;
  const SafetensorsEntry& entry(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  std::map<std::string, at::Tensor> tensors() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<std::string>& shard_paths() const { return shard_paths_; }

 private:
  std::string index_path_;
  std::vector<std::string> shard_paths_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, size_t> shard_of_;
  std::map<std::string, std::string> metadata_;
};

// Writes `dir/<stem>-0000k-of-0000n.safetensors` shards of at most `max_shard_bytes` of tensor data
// each (a bigger single tensor gets its own shard) plus `dir/<stem>.safetensors.index.json`.
// Returns the index path.
std::string write_safetensors_sharded(const std::string& dir,
                                      const std::map<std::string, at::Tensor>& tensors,
                                      uint64_t max_shard_bytes,
                                      const std::map<std::string, std::string>& metadata = {},
                                      const std::string& stem = "model");

// Streaming writer: the header is fixed from the declared entries, then tensors are appended one at
// a time in `order()` so converting a large checkpoint needs one tensor in memory at a time.
class SafetensorsWriter {
 public:
  struct Spec {
    std::string name;
    at::ScalarType dtype = at::kFloat;
    std::vector<int64_t> shape;
  };
  SafetensorsWriter(const std::string& path, std::vector<Spec> specs,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();  // an unfinished writer removes its temporary file
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // The order in which write() must be called (element size descending, then name).
  const std::vector<Spec>& order() const { return specs_; }
  // The next tensor; must match the next spec's name, dtype and shape.
  void write(const std::string& name, const at::Tensor& tensor);
  // Flushes, fsyncs and renames the temporary file into place. Throws if tensors are missing.
  void finish();
  uint64_t bytes_written() const { return written_; }

 private:
  std::string path_;
  std::string tmp_path_;
  std::vector<Spec> specs_;
  size_t next_ = 0;
  uint64_t written_ = 0;
  void* fp_ = nullptr;  // FILE*
  bool finished_ = false;
};

}  // namespace ibllm::io
