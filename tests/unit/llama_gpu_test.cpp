// GPU checks (tag [cuda], skipped visibly without a CUDA device; `ibllm_tests "[cuda]"`): the tiny
// golden model on CUDA in fp32 (math and SDPA attention) against the CPU reference logits, SDPA
// equal to the math path for prefill / cached / left-padded steps, and bf16 base weights within a
// bf16 tolerance.
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "models/llama/llama.h"
#include "tests/golden/llama_fixture.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::models;
using namespace ibllm::test::llama;

namespace {

Llama tiny_on(const at::TensorOptions& opts, AttentionChoice attention,
              const std::map<std::string, at::Tensor>& w) {
  auto cfg = llama_preset("tiny");
  cfg.w_bias = cfg.w_lora = true;
  cfg.attention = attention;
  Llama m(cfg, opts);
  load_params(*m, w);
  return m;
}

}  // namespace

TEST_CASE("llama gpu: CUDA fp32/bf16 and SDPA agree with the CPU reference", "[cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  at::NoGradGuard g;
  auto w = read_fixture("tiny_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  const at::Device cuda(at::kCUDA, 0);
  auto tokens = c.at("tokens").to(cuda);
  auto adapters = adapters_from(c.at("visual").to(cuda), c.at("prefix").to(cuda));
  auto want = c.at("logits_full");
  auto math = tiny_on(at::TensorOptions().device(cuda), AttentionChoice::kMath, w);
  auto fast = tiny_on(at::TensorOptions().device(cuda), AttentionChoice::kAuto, w);
  // CUDA fp32 GEMMs (no TF32 for matmul by default) differ from CPU only in summation order
  IBLLM_CHECK_TENSOR(math->forward(tokens, adapters).cpu(), want, 1e-4, 1e-4);
  IBLLM_CHECK_TENSOR(fast->forward(tokens, adapters).cpu(), want, 1e-4, 1e-4);
  // cached steps and a left-padded batch: SDPA vs math
  auto terms_m = math->prepare_adapters(adapters);
  auto terms_f = fast->prepare_adapters(adapters);
  auto cm = math->make_cache(2, 9, {2, 0});
  auto cf = fast->make_cache(2, 9, {2, 0});
  for (int64_t step : {5, 1, 3}) {
    auto t = tokens.narrow(1, cm.length, step);
    IBLLM_CHECK_TENSOR(fast->forward_cached(t, cf, terms_f).cpu(),
                       math->forward_cached(t, cm, terms_m).cpu(), 1e-4, 1e-4);
  }
  // bf16 base weights, fp32 deltas: within a bf16 tolerance of the fp32 reference
  auto bf = tiny_on(at::TensorOptions().device(cuda).dtype(at::kBFloat16), AttentionChoice::kAuto, w);
  auto got = bf->forward(tokens, adapters).cpu();
  const double range = want.abs().max().item<double>();
  const double err = (got - want).abs().max().item<double>();
  INFO("bf16 max abs error " << err << " of range " << range);
  CHECK(err < 0.05 * range);
}
