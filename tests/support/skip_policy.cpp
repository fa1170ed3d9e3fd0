// Which TEST_CASE is running, for IBLLM_SKIP's tag check (Catch2 v2 only; see catch.h). A Catch
// listener records the tags of each case as it starts. On v3 (the GPU machine, where only the
// [cuda] cases run) the check is not compiled.
// Catch2 v2 declares its listener base classes only with this switch.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "tests/support/catch.h"

#if IBLLM_CATCH_MAJOR < 3
#include <string>
#include <vector>

namespace ibllm::test {
namespace {

std::vector<std::string>& current_tags() {
  static std::vector<std::string> tags;
  return tags;
}

struct TagListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    current_tags() = info.tags;
  }
};

CATCH_REGISTER_LISTENER(TagListener)

}  // namespace

bool current_case_may_skip() {
  for (const auto& t : current_tags())
    if (t == "skips" || t == "cuda" || (!t.empty() && t[0] == '.')) return true;
  return false;
}

}  // namespace ibllm::test
#endif
