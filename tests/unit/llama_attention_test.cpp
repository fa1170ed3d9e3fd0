// SDPA (at::scaled_dot_product_attention, with enable_gqa for grouped-query heads) against the
// reference math path on the CPU in fp32, and the whole tiny LLaMA with either backend: no mask,
// causal, left-padded keys, KV-cache offsets, grouped-query heads. Tolerance 1e-5 relative
// (+1e-6 absolute for values near zero): both compute softmax in fp32 over the same products, so
// only the summation order differs.
#include <ATen/ATen.h>

#include "models/llama/attention.h"
#include "models/llama/llama.h"
#include "tests/support/catch.h"
#include "tests/support/tensor_match.h"

namespace {

using namespace ibllm::models;

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, g, at::TensorOptions().dtype(at::kFloat));
}

void check_backends_agree(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& mask, bool causal) {
  auto want = attend(q, k, v, mask, causal, AttentionBackend::kMath);
  auto got = attend(q, k, v, mask, causal, AttentionBackend::kSdpa);
  REQUIRE(got.sizes() == want.sizes());
  IBLLM_CHECK_TENSOR(got, want, 1e-5, 1e-6);
}

}  // namespace

TEST_CASE("attention: SDPA equals the math path (fp32, every mask kind, GQA)", "[llama]") {
  const int64_t B = 2, H = 4, S = 7, hd = 16;
  for (const int64_t Hkv : {int64_t{4}, int64_t{2}, int64_t{1}}) {
    SECTION("kv heads " + std::to_string(Hkv)) {
      auto q = randn({B, H, S, hd}, 1);
      auto k = randn({B, Hkv, S, hd}, 2);
      auto v = randn({B, Hkv, S, hd}, 3);
      // no mask (an encoder-style full attention)
      check_backends_agree(q, k, v, at::Tensor(), false);
      // causal: the is_causal fast path vs the explicit mask of the math path
      auto causal_mask = attention_mask(S, 0, at::Tensor(), at::kCPU);
      auto want = attend(q, k, v, causal_mask, false, AttentionBackend::kMath);
      IBLLM_CHECK_TENSOR(attend(q, k, v, causal_mask, true, AttentionBackend::kSdpa), want, 1e-5,
                         1e-6);
      check_backends_agree(q, k, v, causal_mask, false);
      // left padding: row 1's first three keys are padding
      auto valid = at::ones({B, S}, at::TensorOptions().dtype(at::kBool));
      valid[1].narrow(0, 0, 3).fill_(false);
      check_backends_agree(q, k, v, attention_mask(S, 0, valid, at::kCPU), false);
      // KV cache: 3 new queries after 9 cached positions (T = 12), with padding
      const int64_t off = 9, T = off + 3;
      auto q3 = randn({B, H, 3, hd}, 4);
      auto kc = randn({B, Hkv, T, hd}, 5);
      auto vc = randn({B, Hkv, T, hd}, 6);
      auto valid_t = at::ones({B, T}, at::TensorOptions().dtype(at::kBool));
      valid_t[0].narrow(0, 0, 4).fill_(false);
      check_backends_agree(q3, kc, vc, attention_mask(3, off, valid_t, at::kCPU), false);
      check_backends_agree(q3, kc, vc, attention_mask(3, off, at::Tensor(), at::kCPU), false);
      // one decoding step without padding: no mask at all
      auto q1 = randn({B, H, 1, hd}, 7);
      REQUIRE_FALSE(attention_mask(1, off, at::Tensor(), at::kCPU).defined());
      check_backends_agree(q1, kc.narrow(2, 0, off + 1), vc.narrow(2, 0, off + 1), at::Tensor(),
                           false);
    }
  }
}

TEST_CASE("attention: a tiny GQA LLaMA gives the same logits with SDPA and math", "[llama]") {
  at::NoGradGuard g;
  auto cfg = llama_preset("tiny");
  cfg.n_kv_heads = cfg.n_heads / 2;
  auto math_cfg = cfg, sdpa_cfg = cfg;
  math_cfg.attention = AttentionChoice::kMath;
  sdpa_cfg.attention = AttentionChoice::kSdpa;
  Llama a(math_cfg), b(sdpa_cfg);
  at::manual_seed(5);
  a->reset_parameters();
  {
    auto src = a->named_parameters(true);
    for (auto& p : b->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  auto tokens = at::randint(0, cfg.vocab_size, {2, 9}, at::TensorOptions().dtype(at::kLong));
  IBLLM_CHECK_TENSOR(b->forward(tokens), a->forward(tokens), 1e-5, 1e-5);
}
