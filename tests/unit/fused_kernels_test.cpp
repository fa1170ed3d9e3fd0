// The fused-kernels switch on the CPU: model.llama.fused_kernels parses (auto|off|on, "did you mean"
// for a typo), `on` with a CPU run is a config error naming the key, `auto` never selects the
// kernels for CPU tensors, and a tiny LLaMA with `auto` gives bitwise the logits and gradients of
// `off` on the CPU (the reference path is untouched). The kernels' numbers: fused_kernels_gpu_test.
#include <ATen/ATen.h>

#include "models/kernels/fused_ops.h"
#include "models/llama/llama.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/support/catch.h"
#include "tests/support/cli_runner.h"

using namespace ibllm;
using namespace ibllm::models;

TEST_CASE("fused kernels: model.llama.fused_kernels parses auto, off, on", "[fused_kernels]") {
  CHECK(LlamaConfig{}.fused_kernels == FusedKernels::kOff);  // default until measured on a GPU
  for (auto [text, want] : {std::pair{"auto", FusedKernels::kAuto},
                            std::pair{"off", FusedKernels::kOff}, std::pair{"on", FusedKernels::kOn}}) {
    auto doc = config::Document::from_string(std::string("preset: tiny\nfused_kernels: ") + text +
                                                 "\n",
                                             "llama.yaml");
    auto c = parse_llama_config(doc.root());
    REQUIRE_NOTHROW(doc.finish());
    CHECK(c.fused_kernels == want);
  }
  auto bad = config::Document::from_string("preset: tiny\nfused_kernels: of\n", "llama.yaml");
  parse_llama_config(bad.root());
  try {
    bad.finish();
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("fused_kernels") != std::string::npos);
    CHECK(m.find("off") != std::string::npos);
  }
}

TEST_CASE("fused kernels: auto never applies to CPU tensors", "[fused_kernels]") {
  CHECK(fused_kernels_built() == (IBLLM_WITH_CUDA != 0));
  const auto x = at::randn({2, 8});
  CHECK_FALSE(fused_applies(FusedKernels::kAuto, x));
  CHECK_FALSE(fused_applies(FusedKernels::kOn, x));
  CHECK_FALSE(fused_applies(FusedKernels::kOff, x));
}

TEST_CASE("fused kernels: on with a CPU run is a config error naming the key", "[fused_kernels]") {
  auto r = test::run_cli(
      "bench configs/tiny_pretrain.yaml --set run.device=cpu --set model.llama.fused_kernels=on "
      "--set bench.steps=1 --set bench.warmup_steps=0");
  INFO(r.output);
  CHECK(r.code == 2);
  CHECK(r.output.find("model.llama.fused_kernels is on, but the run device is the CPU") !=
        std::string::npos);
  CHECK(r.output.find("hint:") != std::string::npos);
}

TEST_CASE("fused kernels: auto leaves the CPU forward and backward bitwise unchanged",
          "[fused_kernels]") {
  auto build = [](FusedKernels mode) {
    auto cfg = llama_preset("tiny");
    cfg.w_bias = cfg.w_lora = true;
    cfg.fused_kernels = mode;
    at::manual_seed(11);
    Llama m(cfg);
    m->reset_parameters();
    return m;
  };
  auto off = build(FusedKernels::kOff);
  auto fused = build(FusedKernels::kAuto);
  auto tokens = at::randint(3, 64, {2, 7}, at::kLong);
  auto lo = off->forward(tokens);
  auto lf = fused->forward(tokens);
  CHECK(at::equal(lo, lf));
  lo.square().mean().backward();
  lf.square().mean().backward();
  auto po = off->named_parameters(true);
  auto pf = fused->named_parameters(true);
  for (const auto& p : po) {
    INFO(p.key());
    const auto& go = p.value().grad();
    const auto& gf = pf[p.key()].grad();
    REQUIRE(go.defined() == gf.defined());
    if (go.defined()) CHECK(at::equal(go, gf));
  }
}
