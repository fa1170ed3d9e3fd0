// A zip archive's central directory, read and checked by us before LibTorch's reader opens the
// file: LibTorch (miniz) allocates each record's declared uncompressed size when it reads it, and
// its constructor already reads some records, so a 700-byte file declaring a 1.2 GB record made
// it allocate 1.2 GB (found by fuzzing). Every entry's sizes and offsets must be possible for the
// file: inside it, stored records exactly their size, deflated ones within deflate's 1032:1 bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed = 0, uncompressed = 0, local_header = 0;
};

// Reads exactly `n` bytes at `offset` of `fd`; IoError naming `path` on a short read or an error.
void pread_exact(int fd, uint8_t* dst, uint64_t n, uint64_t offset, const std::string& path);

// Reads the directory of the zip file `path` (open as `fd`, `file_size` bytes), zip64 included;
// PthFile also learns from it which records are stored, so they can be mapped in place. Throws IoError naming the file and the entry when the directory or an entry is impossible.
std::vector<ZipEntry> read_zip_directory(int fd, uint64_t file_size, const std::string& path);

}  // namespace ibllm::io
