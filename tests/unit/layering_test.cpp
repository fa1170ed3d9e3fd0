// Layering: include arrows point one way (src/core <- src/config <- src/io <- models, data <-
// src/checkpoint, src/distributed <- trainers <- cli). No library folder includes the command-line
// program (cli/); models never include data, trainers, distributed or yaml-cpp; only src/config
// includes yaml-cpp. A backwards #include fails this test with the file and line.
#include "tests/support/catch.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "tests/support/paths.h"

namespace fs = std::filesystem;

namespace {

// Rank of each layer; a file may include only layers of lower or equal rank.
int layer_of(const std::string& rel) {
  static const std::vector<std::pair<std::string, int>> layers = {
      {"src/core/", 0},       {"src/config/", 1},      {"src/io/", 2},       {"models/", 3},
      {"data/", 3},           {"src/checkpoint/", 4},  {"src/distributed/", 4}, {"trainers/", 5},
      {"cli/", 6},
  };
  for (const auto& [prefix, rank] : layers)
    if (rel.rfind(prefix, 0) == 0) return rank;
  return -1;
}

std::vector<std::string> violations() {
  std::vector<std::string> out;
  const fs::path root = ibllm::test::source_dir();
  const std::regex inc(R"(^\s*#\s*include\s*[<"]([^">]+)[">])");
  for (const char* top : {"src", "models", "data", "trainers", "cli"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / top)) {
      auto ext = e.path().extension();
      if (ext != ".h" && ext != ".cpp") continue;
      std::string rel = fs::relative(e.path(), root).generic_string();
      int self = layer_of(rel);
      std::ifstream in(e.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        std::smatch m;
        if (!std::regex_search(line, m, inc)) continue;
        std::string target = m[1];
        std::string where = rel + ":" + std::to_string(n) + ": includes " + target;
        if (target.rfind("yaml-cpp/", 0) == 0 && rel.rfind("src/config/", 0) != 0 &&
            rel.rfind("cli/", 0) != 0)
          out.push_back(where + " (only src/config and src/cli may see YAML)");
        int other = layer_of(target);
        if (other < 0) continue;
        bool sibling_cross = self == 3 && other == 3 && target.substr(0, 5) != rel.substr(0, 5);
        if (other > self || sibling_cross)
          out.push_back(where + " (backwards arrow: layer " + std::to_string(self) + " -> " +
                        std::to_string(other) + ")");
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("layering: no backwards #include", "[layering]") {
  auto v = violations();
  for (const auto& s : v) UNSCOPED_INFO(s);
  CHECK(v.empty());
}

TEST_CASE("layering: the rule itself catches a backwards include", "[layering]") {
  CHECK(layer_of("models/llama/llama.h") > layer_of("src/io/safetensors.h"));
  CHECK(layer_of("src/core/error.h") < layer_of("src/config/section.h"));
  CHECK(layer_of("trainers/run_config.h") < layer_of("cli/app.h"));
  CHECK(layer_of("src/core/error.h") < layer_of("cli/main.cpp"));
  CHECK(layer_of("tests/x.h") == -1);
}
