// See durable_file.h. Raw open/write/fsync instead of iostreams: iostreams cannot fsync.
#include "src/io/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "src/core/crc32c.h"
#include "src/core/error.h"

namespace ibllm::io {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
  throw IoError(path.string() + ": " + what + ": " + std::strerror(err),
                err == ENOSPC ? "the disk is full" : "", err);
}

int open_or_throw(const std::filesystem::path& path, int flags, const std::string& what) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail(path, what, errno);
  return fd;
}

}  // namespace

void write_file_durably(const std::filesystem::path& path, const std::string& bytes) {
  const int fd = open_or_throw(path, O_WRONLY | O_CREAT | O_TRUNC, "cannot create");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      fail(path, "write failed", err);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, "fsync failed", err);
  }
  if (::close(fd) != 0) fail(path, "close failed", errno);
}

void fsync_path(const std::filesystem::path& path) {
  const bool dir = std::filesystem::is_directory(path);
  const int fd = open_or_throw(path, O_RDONLY | (dir ? O_DIRECTORY : 0), "cannot open for fsync");
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, "fsync failed", err);
  }
  ::close(fd);
}

void replace_file_atomically(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  write_file_durably(tmp, bytes);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail(path, "cannot rename " + tmp.string() + " over it", errno);
  fsync_path(path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path());
}

namespace {

// Reads the whole file in `chunk`-byte pieces, handing each to `use` (EINTR retried).
template <typename Use>
void read_chunks(const std::filesystem::path& path, size_t chunk, Use use) {
  const int fd = open_or_throw(path, O_RDONLY, "cannot open");
  std::vector<char> buf(chunk);
  for (;;) {
    const ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      fail(path, "read failed", err);
    }
    if (r == 0) break;
    use(buf.data(), static_cast<size_t>(r));
  }
  ::close(fd);
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  std::string out;
  read_chunks(path, size_t{1} << 16, [&](const char* p, size_t n) { out.append(p, n); });
  return out;
}

FileDigest digest_file(const std::filesystem::path& path) {
  FileDigest d;
  read_chunks(path, size_t{1} << 20, [&](const char* p, size_t n) {
    d.crc32c = core::crc32c(p, n, d.crc32c);
    d.bytes += static_cast<uint64_t>(n);
  });
  return d;
}

}  // namespace ibllm::io
