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

TEST_CASE("configs: cross-section and file checks name the key to change", "[config][configs]") {
  auto tiny = (ibllm::test::source_dir() / "configs/tiny_cpu.yaml").string();
  auto message = [&](const std::vector<std::string>& sets, ibllm::train::Checks checks) {
    try {
      ibllm::train::load_run_config(tiny, sets, nullptr, checks);
    } catch (const ibllm::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto has = [](const std::string& s, const std::string& sub) {
    return s.find(sub) != std::string::npos;
  };
  auto m = message({"data.max_words=200", "data.image.size=32"}, ibllm::train::Checks::kSyntax);
  INFO(m);
  CHECK(has(m, "data.max_words: max_words 200 exceeds model.llama.max_seq_len 96"));
  CHECK(has(m, "data.image.size: images are cropped to 32 but model.imagebind.vision.input_size is [28, 28]"));
  // Files are checked only when asked (check-config does; --no-files skips). Config paths are
  // relative to the working directory: run from the repository root as the CLI is.
  struct Cwd {
    fs::path old = fs::current_path();
    Cwd() { fs::current_path(ibllm::test::source_dir()); }
    ~Cwd() { fs::current_path(old); }
  } cwd;
  auto f = message({"data.sources[1].path=missing.json", "model.llama.vocab_size=100"},
                   ibllm::train::Checks::kResources);
  INFO(f);
  CHECK(has(f, "data.sources[1].path: data file 'missing.json' does not exist"));
  CHECK(has(f, "data.tokenizer: the tokenizer has 320 pieces but model.llama.vocab_size is 100"));
  CHECK(message({"data.sources[1].path=missing.json"}, ibllm::train::Checks::kSyntax).empty());
}
