// A read-only file mapped into memory (MAP_PRIVATE, copy-on-write) and shared by every tensor that
// aliases it: the mapping lives until the last tensor or reader holding the shared_ptr goes away.
// Private + writable pages mean an in-place op on a loaded tensor never touches the file on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ibllm::io {

class MappedFile {
 public:
  // Throws IoError (naming the path and errno text) when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile(std::string path, uint8_t* data, uint64_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace ibllm::io
