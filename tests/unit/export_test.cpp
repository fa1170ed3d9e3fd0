// `ibllm export --dtype`: the names io::parse_dtype_name knows for fp32/fp16/bf16 map to their
// scalar types; every other name (fp64, which io knows, an unknown one, an empty one) is a
// UsageError with the one message and exit code 2, from export_weights before any model is built
// and from the command line.
#include <ATen/ATen.h>

#include <string>

#include "src/core/error.h"
#include "trainers/export.h"
#include "trainers/run_config.h"
#include "tests/support/catch.h"
#include "tests/support/cli_runner.h"
#include "tests/support/paths.h"

using namespace ibllm;

namespace {

// The UsageError export_dtype throws for `name`, or "no error".
std::string dtype_error(const std::string& name, int* exit_code) {
  try {
    train::export_dtype(name);
  } catch (const UsageError& e) {
    *exit_code = e.exit_code();
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("export: --dtype accepts fp32, fp16 and bf16 by io's names", "[export]") {
  CHECK(train::export_dtype("fp32") == at::kFloat);
  CHECK(train::export_dtype("fp16") == at::kHalf);
  CHECK(train::export_dtype("bf16") == at::kBFloat16);
  CHECK(train::export_dtype("float32") == at::kFloat);
  CHECK(train::export_dtype("half") == at::kHalf);
  CHECK(train::export_dtype("bfloat16") == at::kBFloat16);
}

TEST_CASE("export: any other --dtype is a usage error with one message", "[export]") {
  for (const std::string name : {"fp64", "double", "int8", "fp8", ""}) {
    int code = 0;
    CHECK(dtype_error(name, &code) == "unknown --dtype '" + name + "' (use fp32, fp16 or bf16)");
    CHECK(code == 2);
  }
  train::ExportOptions o;
  o.out_dir = test::scratch_dir("export_dtype").string();
  o.dtype = "fp64";
  CHECK_THROWS_AS(train::check_export_options(o), UsageError);
}

TEST_CASE("export: the command exits 2 for a bad --dtype", "[export][cli]") {
  const std::string out = (test::scratch_dir("export_cli_dtype") / "out").string();
  const auto r = test::run_cli("export configs/tiny_cpu.yaml --out " + out + " --dtype fp64");
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("unknown --dtype 'fp64' (use fp32, fp16 or bf16)") != std::string::npos);
}
