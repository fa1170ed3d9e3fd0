// Test path helpers (see paths.h).
#include "tests/support/paths.h"

#include <atomic>
#include <cstdlib>
#include <system_error>
#include <unistd.h>

namespace ibllm::test {
namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(IBLLM_SOURCE_DIR); }
fs::path cli_path() { return fs::path(IBLLM_CLI_PATH); }

namespace {
struct ScratchRoot {
  fs::path root;
  ScratchRoot() {
    root = fs::path(IBLLM_BINARY_DIR) / "test_scratch" / std::to_string(::getpid());
    fs::create_directories(root);
  }
  ~ScratchRoot() {
    std::error_code ec;
    if (!std::getenv("IBLLM_KEEP_SCRATCH")) fs::remove_all(root, ec);
  }
};
}  // namespace

fs::path scratch_dir(const std::string& name) {
  static ScratchRoot root;
  static std::atomic<int> counter{0};
  fs::path p = root.root / (name + "_" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::optional<fs::path> shared_asset(const std::string& name) {
  const char* env = std::getenv("IBLLM_SHARED_DIR");
  fs::path shared = env ? fs::path(env) : source_dir() / ".." / "shared";
  fs::path p = shared / "assets" / name;
  if (fs::exists(p)) return fs::canonical(p);
  return std::nullopt;
}

std::string python() {
  const auto venv = source_dir() / ".venv" / "bin" / "python";
  return std::filesystem::exists(venv) ? venv.string() : std::string("/usr/bin/python3");
}

}  // namespace ibllm::test
