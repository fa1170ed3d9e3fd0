// Core utilities: error types and exit codes, "did you mean", registry lookups, log-level policy.
#include "tests/support/catch.h"

#include <spdlog/spdlog.h>

#include "src/core/error.h"
#include "src/core/logging.h"
#include "src/core/registry.h"
#include "src/core/strings.h"

using namespace ibllm;

TEST_CASE("core: error types carry component, hint and exit code", "[core]") {
  ConfigError c("bad key", "fix it");
  CHECK(c.component() == "config");
  CHECK(c.hint() == "fix it");
  CHECK(c.exit_code() == 2);
  CHECK(UsageError("x").exit_code() == 2);
  CHECK(IoError("x").exit_code() == 1);
  NotBuiltError nb("OpenCV", "image decoding");
  CHECK(std::string(nb.what()) == "image decoding needs OpenCV, but this ibllm was built without OpenCV");
  CHECK(nb.hint().find("-DIBLLM_WITH_OPENCV=ON") != std::string::npos);
}

TEST_CASE("core: closest_match suggests typos only", "[core]") {
  std::vector<std::string> keys{"warmup_steps", "min_lr", "kind"};
  CHECK(core::closest_match("warmup_step", keys) == "warmup_steps");
  CHECK(core::closest_match("KIND", keys) == "kind");
  CHECK(core::closest_match("totally_different", keys).empty());
  CHECK(core::edit_distance("kitten", "sitting") == 3);
  CHECK(core::join({"a", "b"}, ", ") == "a, b");
  CHECK(core::split("a,b,,c", ',') == std::vector<std::string>{"a", "b", "", "c"});
}

TEST_CASE("core: registry lists known kinds for an unknown one", "[core]") {
  core::Registry<int> r("widget");
  r.add("alpha", 1);
  r.add("beta", 2);
  CHECK(r.get("beta") == 2);
  CHECK_THROWS_AS(r.add("alpha", 3), Error);
  try {
    r.get("alpah");
    FAIL("expected ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "unknown widget kind 'alpah'; known: alpha, beta");
    CHECK(e.hint() == "did you mean 'alpha'?");
  }
}

TEST_CASE("core: non-zero ranks log warnings and errors only", "[core][logging]") {
  core::init_logging({0, 2, spdlog::level::debug});
  CHECK(spdlog::default_logger()->level() == spdlog::level::debug);
  core::init_logging({1, 2, spdlog::level::debug});
  CHECK(spdlog::default_logger()->level() == spdlog::level::warn);
  core::init_logging({1, 2, spdlog::level::err});
  CHECK(spdlog::default_logger()->level() == spdlog::level::err);
  CHECK_THROWS_AS(core::parse_log_level("loud"), ConfigError);
  CHECK(core::parse_log_level("warn") == spdlog::level::warn);
  core::init_logging({0, 1, spdlog::level::info});
}
