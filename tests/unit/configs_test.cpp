// Every shipped config under configs/ parses into a RunConfig without errors, and its resolved
// YAML parses again to the same text (what runs write into their run directory).
#include "tests/support/catch.h"

#include <filesystem>

#include "src/config/document.h"
#include "tests/support/paths.h"
#include "trainers/run_config.h"

namespace fs = std::filesystem;

TEST_CASE("configs: every shipped YAML validates and round-trips", "[config][configs]") {
  int n = 0;
  for (const auto& e : fs::directory_iterator(ibllm::test::source_dir() / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    INFO("config: " << e.path());
    std::string resolved;
    REQUIRE_NOTHROW(ibllm::train::load_run_config(e.path().string(), {}, &resolved));
    auto doc = ibllm::config::Document::from_string(resolved, "resolved");
    REQUIRE_NOTHROW(ibllm::train::parse_run_config(doc));
    CHECK(doc.resolved_yaml() == resolved);
  }
  CHECK(n >= 1);
}

TEST_CASE("configs: run section rejects a run name that is not a directory name", "[config]") {
  auto doc = ibllm::config::Document::from_string("run:\n  name: a/b\n", "x.yaml");
  try {
    ibllm::train::parse_run_config(doc);
    FAIL("expected ConfigError");
  } catch (const ibllm::ConfigError& e) {
    CHECK(std::string(e.what()).find("x.yaml:2:9: run.name: run name must be non-empty") !=
          std::string::npos);
  }
}
