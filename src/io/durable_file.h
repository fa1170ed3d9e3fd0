// Crash-safe file primitives (checkpoints, manifests): write + fsync, fsync of a directory (so a rename or a
// new entry survives a power cut), atomic replacement of a small file, and a streaming CRC-32C.
// POSIX only; every failure throws IoError naming the path and errno.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ibllm::io {

// Creates/truncates `path`, writes `bytes`, fsyncs and closes it.
void write_file_durably(const std::filesystem::path& path, const std::string& bytes);
// fsync of a file or a directory.
void fsync_path(const std::filesystem::path& path);
// Writes `path.tmp` durably, renames it over `path`, fsyncs the parent directory.
void replace_file_atomically(const std::filesystem::path& path, const std::string& bytes);
std::string read_file(const std::filesystem::path& path);

struct FileDigest {
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};
FileDigest digest_file(const std::filesystem::path& path);

}  // namespace ibllm::io
