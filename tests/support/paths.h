// Paths tests need: the source tree, a fresh scratch directory per test, the CLI binary, and the
// shared assets (../shared/assets), which exist in CI but not in a user's clone. Tests that need
// an asset call IBLLM_REQUIRE_ASSET and skip visibly when it is absent.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace ibllm::test {

std::filesystem::path source_dir();
std::filesystem::path cli_path();
// A new empty directory under the build tree, unique per call; removed at process exit.
std::filesystem::path scratch_dir(const std::string& name);
// The Python with the pinned torch wheel and numpy (<repo>/.venv/bin/python from
// launch/install_deps.sh), else /usr/bin/python3: real torch.load / numpy clients for our files.
std::string python();
// ../shared/assets/<name> if it exists (IBLLM_SHARED_DIR env var overrides the location).
std::optional<std::filesystem::path> shared_asset(const std::string& name);

}  // namespace ibllm::test

#define IBLLM_REQUIRE_ASSET(var, name)                                              \
  auto var##_opt = ::ibllm::test::shared_asset(name);                               \
  if (!var##_opt) IBLLM_SKIP("shared asset " << (name) << " not found (../shared)"); \
  const std::filesystem::path var = *var##_opt
