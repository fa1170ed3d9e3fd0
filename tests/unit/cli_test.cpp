// The real `ibllm` binary: exit codes (0 ok, 1 runtime, 2 usage/config) and the messages users see
// for bad usage, bad configs and commands that have not landed yet.
#include "tests/support/catch.h"


#include <cstdio>
#include <fstream>

#include "cli/args.h"
#include "src/core/error.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"

namespace {

using ibllm::test::run_cli;

std::string tiny_config() { return (ibllm::test::source_dir() / "configs/tiny_cpu.yaml").string(); }

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

TEST_CASE("cli: help and info succeed", "[cli]") {
  auto help = run_cli("--help");
  CHECK(help.code == 0);
  CHECK(has(help.output, "check-config"));
  CHECK(has(help.output, "train"));
  auto info = run_cli("info");
  CHECK(info.code == 0);
  CHECK(has(info.output, "libtorch"));
  CHECK(has(info.output, "cuda_available"));
  auto json = run_cli("info --json");
  CHECK(json.code == 0);
  CHECK(has(json.output, "\"opencv\""));
  for (const char* cmd : {"train", "eval", "generate", "export", "convert", "inspect", "embed",
                          "build-cache", "check-config", "info", "bench"}) {
    auto r = run_cli(std::string(cmd) + " --help");
    INFO(cmd << ": " << r.output);
    CHECK(r.code == 0);
    CHECK(has(r.output, std::string("usage: ibllm ") + cmd));
  }
}

TEST_CASE("cli: usage errors exit 2 with a message", "[cli]") {
  auto none = run_cli("");
  CHECK(none.code == 2);
  CHECK(has(none.output, "error: [cli] no command given"));
  auto typo = run_cli("chek-config x.yaml");
  CHECK(typo.code == 2);
  CHECK(has(typo.output, "unknown command 'chek-config' (did you mean 'check-config'?)"));
  auto flag = run_cli("info --jsn");
  CHECK(flag.code == 2);
  CHECK(has(flag.output, "unknown option '--jsn' (did you mean '--json'?)"));
  auto missing = run_cli("check-config");
  CHECK(missing.code == 2);
  CHECK(has(missing.output, "expected exactly one config file"));
  auto noval = run_cli("check-config " + tiny_config() + " --set");
  CHECK(noval.code == 2);
  CHECK(has(noval.output, "option '--set' needs a value"));
}

TEST_CASE("cli: every listed command is implemented", "[cli]") {
  auto r = run_cli("--help");
  CHECK(r.code == 0);
  CHECK(!has(r.output, "not yet implemented"));
}

TEST_CASE("cli: check-config prints the resolved config or every problem", "[cli][config]") {
  auto ok = run_cli("check-config " + tiny_config() + " --set optim.blr=2e-3");
  INFO(ok.output);
  CHECK(ok.code == 0);
  CHECK(has(ok.output, "blr: 0.002"));
  CHECK(has(ok.output, "OK"));
  auto dir = ibllm::test::scratch_dir("cli_cfg");
  auto bad = (dir / "bad.yaml").string();
  std::ofstream(bad) << "run:\n  seed: -1\n  nme: x\n";
  auto r = run_cli("check-config " + bad);
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(has(r.output, "error: [config] 4 problems in " + bad));
  CHECK(has(r.output, bad + ": data.sources: no data sources"));  // absent section: no line
  CHECK(has(r.output, bad + ":2:9: run.seed: value -1 is out of range [0, inf)"));
  CHECK(has(r.output, bad + ":3:3: run.nme: unknown key 'nme' (did you mean 'name'?)"));
  CHECK(has(r.output, "hint:"));
  auto missing = run_cli("check-config /nonexistent.yaml");
  CHECK(missing.code == 2);
  CHECK(has(missing.output, "cannot open config file '/nonexistent.yaml'"));
}

TEST_CASE("cli: inspect lists tensors and non-tensor entries of a training checkpoint", "[cli][io]") {
  auto fixture = (ibllm::test::source_dir() / "tests/golden/fixtures/io/pth_training_ckpt.pt").string();
  auto r = run_cli("inspect " + fixture);
  INFO(r.output);
  CHECK(r.code == 0);
  CHECK(has(r.output, "model/embed.weight"));
  CHECK(has(r.output, "[5, 4]"));
  CHECK(has(r.output, "epoch"));
  auto missing = run_cli("inspect /nonexistent.pth");
  CHECK(missing.code == 1);
  CHECK(has(missing.output, "/nonexistent.pth"));
  CHECK(run_cli("inspect").code == 2);
  CHECK(run_cli("inspect " + fixture + " --max x").code == 2);
}

TEST_CASE("cli: convert streams a .pth into safetensors with a dtype cast and selection", "[cli][io]") {
  auto fixture = (ibllm::test::source_dir() / "tests/golden/fixtures/io/pth_training_ckpt.pt").string();
  auto out = (ibllm::test::scratch_dir("cli_convert") / "model.safetensors").string();
  auto r = run_cli("convert " + fixture + " " + out +
                   " --under model --dtype bf16 --select 'blocks.*' --select norm.weight");
  INFO(r.output);
  REQUIRE(r.code == 0);
  CHECK(has(r.output, "converted 4 tensors"));
  auto listing = run_cli("inspect " + out);
  INFO(listing.output);
  CHECK(listing.code == 0);
  CHECK(has(listing.output, "blocks.0.weight"));
  CHECK(has(listing.output, "BF16"));
  CHECK_FALSE(has(listing.output, "embed.weight"));
  auto bad = run_cli("convert " + fixture + " " + out + " --dtype int3");
  CHECK(bad.code != 0);
  CHECK(has(bad.output, "int3"));
  CHECK(run_cli("convert " + fixture).code == 2);
  CHECK(run_cli("convert " + fixture + " " + out + " --heads -4").code == 2);
}

TEST_CASE("cli: numeric flag values are parsed whole and range-checked", "[cli]") {
  using ibllm::cli::parse_int;
  using ibllm::cli::parse_number;
  CHECK(parse_int("--batch", "16", 1, "") == 16);
  CHECK(parse_int("--seed", "0", 0, "") == 0);
  CHECK_THROWS_WITH(parse_int("--batch", "0", 1, ""), Catch::Contains("--batch expects an integer >= 1, got '0'"));
  CHECK_THROWS_AS(parse_int("--batch", "8x", 1, ""), ibllm::UsageError);
  CHECK_THROWS_AS(parse_int("--batch", "", 1, ""), ibllm::UsageError);
  CHECK_THROWS_AS(parse_int("--batch", "99999999999999999999", 1, ""), ibllm::UsageError);
  CHECK(parse_number("--top-p", "0.75", "") == 0.75);
  CHECK(parse_number("--temperature", "1e-3", "") == 1e-3);
  CHECK_THROWS_WITH(parse_number("--top-p", "0.7.5", ""), Catch::Contains("--top-p expects a number, got '0.7.5'"));
  auto r = run_cli("bench " + tiny_config() + " --batch-sizes 2,0");
  CHECK(r.code == 2);
  CHECK(has(r.output, "--batch-sizes expects an integer >= 1, got '0'"));
}
