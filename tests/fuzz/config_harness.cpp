// Fuzz harness: a YAML config (plus --set overrides) through Document and parse_run_config with
// syntax checks only (no file access). Input: the YAML text, optionally followed by a line
// "#--set" whose following lines are the overrides, one per line. An accepted config must
// round-trip: its resolved YAML parses again to the same resolved text (as docs/config.md says).
#include <string>
#include <vector>

#include "src/config/document.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"
#include "trainers/run_config.h"

namespace ibllm::fuzz {

int config_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> overrides;
    const std::string marker = "\n#--set\n";
    if (const size_t at = text.find(marker); at != std::string::npos) {
      std::string rest = text.substr(at + marker.size());
      text.resize(at + 1);
      for (size_t b = 0; b <= rest.size();) {
        size_t e = rest.find('\n', b);
        if (e == std::string::npos) e = rest.size();
        if (e > b) overrides.push_back(rest.substr(b, e - b));
        b = e + 1;
      }
    }
    auto doc = config::Document::from_string(text, "fuzz.yaml", overrides);
    train::parse_run_config(doc, train::Checks::kSyntax);
    const std::string resolved = doc.resolved_yaml();
    doc.known_keys();
    std::string again_text;
    try {
      auto again = config::Document::from_string(resolved, "resolved.yaml");
      train::parse_run_config(again, train::Checks::kSyntax);
      again_text = again.resolved_yaml();
    } catch (const ibllm::Error& e) {
      require(false, std::string("the resolved YAML of an accepted config is rejected: ") +
                         e.what() + "\n" + resolved);
    }
    require(again_text == resolved, "resolved YAML does not round-trip:\n" + resolved);
  });
}

}  // namespace ibllm::fuzz
