// The fuzzing regression replay: every committed input under tests/fuzz/corpus/<harness>/ and
// tests/fuzz/regressions/<harness>/ goes through its harness (tests/fuzz/harnesses.h) in this
// gcc-built binary, no clang needed. A finding (an exception that is not an ibllm::Error, a broken
// invariant; a crash ends the process) fails the case naming the file. A regression input may come
// with `<file>.expect`: a line the error message must contain, so a fixed bug stays fixed with
// its clear message.
#include "tests/support/catch.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Replays one harness's inputs; returns how many ran.
int replay(const ibllm::fuzz::Harness& h) {
  int n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = ibllm::test::source_dir() / "tests" / "fuzz" / kind / h.name;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() != ".expect") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      INFO("harness " << h.name << ", input " << fs::relative(f, ibllm::test::source_dir()).string());
      const std::string bytes = read_file(f);
      std::string finding;
      try {
        h.one_input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      } catch (const std::exception& e) {
        finding = std::string("not an ibllm error: ") + e.what();
      }
      CHECK(finding == "");
      fs::path expect = f;
      expect += ".expect";
      if (fs::exists(expect)) {
        const std::string want = first_line(read_file(expect));
        INFO("error was: " << ibllm::fuzz::last_error());
        CHECK(ibllm::fuzz::last_error().find(want) != std::string::npos);
      }
      ++n;
    }
  }
  return n;
}

}  // namespace

TEST_CASE("fuzz replay: every corpus and regression input is handled", "[fuzz]") {
  int total = 0;
  for (const auto& h : ibllm::fuzz::harnesses()) {
    if (h.shared_asset) continue;  // the next case, which may skip
    total += replay(h);
  }
  CHECK(total > 0);
}

TEST_CASE("fuzz replay: harnesses that load a shared asset", "[fuzz][skips]") {
  for (const auto& h : ibllm::fuzz::harnesses()) {
    if (!h.shared_asset) continue;
    IBLLM_REQUIRE_ASSET(asset, h.shared_asset);
    (void)asset;  // the harness finds it by name itself
    CHECK(replay(h) > 0);
  }
}
