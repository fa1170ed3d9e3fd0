// Scratch files for fuzz inputs and the last-error record (see fuzz_support.h).
#include "tests/fuzz/fuzz_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace ibllm::fuzz {
namespace {

std::string& last_error_text() {
  static std::string s;
  return s;
}

std::filesystem::path scratch() {
  static std::filesystem::path dir;
  static std::once_flag once;
  std::call_once(once, [] {
    namespace fs = std::filesystem;
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("ibllm-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
  });
  return dir;
}

}  // namespace

const std::string& last_error() { return last_error_text(); }
void set_last_error(std::string message) { last_error_text() = std::move(message); }

std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch() / name).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
    }
    done += static_cast<size_t>(w);
  }
  ::close(fd);
  return path;
}

std::string source_dir() { return IBLLM_SOURCE_DIR; }

std::string shared_asset(const std::string& name) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("IBLLM_SHARED_DIR");
  const fs::path p = (env ? fs::path(env) : fs::path(source_dir()) / ".." / "shared") / "assets" / name;
  std::error_code ec;
  return fs::exists(p, ec) ? fs::canonical(p, ec).string() : std::string();
}

}  // namespace ibllm::fuzz
