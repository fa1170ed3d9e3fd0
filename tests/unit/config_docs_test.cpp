// docs/config.md stays true: every key the config parsers read (Document::known_keys over every
// preset in configs/) must match a row of docs/config.md's tables under its section heading. A row
// names keys relative to the heading's section (or its parent: `bind.dim` under `model.bind`);
// "`a` / `b`" lists several (a bare `b` takes `a`'s prefix), `<m>` stands for any one name and
// `[*]` for a list index.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "src/config/document.h"
#include "src/core/strings.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "trainers/run_config.h"

namespace {

namespace fs = std::filesystem;

// The backticked names in `text`, in order.
std::vector<std::string> backticked(const std::string& text) {
  std::vector<std::string> out;
  size_t a = 0;
  while ((a = text.find('`', a)) != std::string::npos) {
    const size_t b = text.find('`', a + 1);
    if (b == std::string::npos) break;
    out.push_back(text.substr(a + 1, b - a - 1));
    a = b + 1;
  }
  return out;
}

// Full key patterns ("model.imagebind.<m>.embed_dim") documented by docs/config.md.
std::vector<std::string> documented_patterns(const fs::path& md) {
  std::ifstream in(md);
  REQUIRE(in);
  std::vector<std::string> patterns, prefixes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0 || line.rfind("### ", 0) == 0) {
      prefixes.clear();
      for (const auto& n : backticked(line.substr(0, line.find(" — ")))) {
        prefixes.push_back(n);
        const auto dot = n.rfind('.');
        if (dot != std::string::npos) prefixes.push_back(n.substr(0, dot));
      }
      continue;
    }
    if (line.rfind("| `", 0) != 0 || prefixes.empty()) continue;
    const std::string cell = line.substr(1, line.find('|', 1) - 1);
    std::string inherited;
    for (const auto& piece : ibllm::core::split(cell, '/')) {
      const auto names = backticked(piece);
      if (names.empty()) continue;
      std::string key = names.front();
      const auto dot = key.rfind('.');
      if (dot != std::string::npos) inherited = key.substr(0, dot + 1);
      else key = inherited + key;
      for (const auto& p : prefixes) patterns.push_back(p + "." + key);
    }
  }
  return patterns;
}

bool matches(const std::string& pattern, const std::string& key) {
  const auto p = ibllm::core::split(pattern, '.'), k = ibllm::core::split(key, '.');
  if (p.size() != k.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != "<m>" && p[i] != k[i]) return false;
  return true;
}

bool documented(const std::vector<std::string>& patterns, const std::string& key) {
  for (const auto& p : patterns)
    if (matches(p, key)) return true;
  return false;
}

}  // namespace

TEST_CASE("config docs: every key the parsers read is in docs/config.md", "[config][docs]") {
  const fs::path root = ibllm::test::source_dir();
  const auto patterns = documented_patterns(root / "docs" / "config.md");
  REQUIRE(patterns.size() > 100);
  std::set<std::string> keys;
  size_t presets = 0;
  for (const auto& e : fs::directory_iterator(root / "configs")) {
    if (e.path().extension() != ".yaml") continue;
    auto doc = ibllm::config::Document::load(e.path().string());
    ibllm::train::parse_run_config(doc, ibllm::train::Checks::kSyntax);
    for (const auto& k : doc.known_keys()) keys.insert(k);
    ++presets;
  }
  REQUIRE(presets >= 4);
  REQUIRE(keys.size() > 100);
  std::ostringstream missing;
  for (const auto& k : keys)
    if (!documented(patterns, k)) missing << "\n  " << k;
  INFO("keys read by the parsers but missing from docs/config.md:" << missing.str());
  CHECK(missing.str().empty());
}

TEST_CASE("config docs: the matcher itself", "[config][docs]") {
  const std::vector<std::string> p = {"model.imagebind.<m>.embed_dim", "data.sources[*].kind",
                                      "model.cache.top_k"};
  CHECK(documented(p, "model.imagebind.audio.embed_dim"));
  CHECK(documented(p, "data.sources[*].kind"));
  CHECK(documented(p, "model.cache.top_k"));
  CHECK_FALSE(documented(p, "model.cache.beta"));
  CHECK_FALSE(documented(p, "model.imagebind.audio.embed_dim.x"));
  CHECK_FALSE(documented(p, "model.imagebind.embed_dim"));
}
