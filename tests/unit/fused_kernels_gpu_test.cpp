// Our CUDA kernels against the reference ATen ops on the same GPU (tag [cuda], skipped visibly
// without a device): RMSNorm (fp32 x/w, bf16 x/w, bf16 x with an fp32 trainable w), RoPE (shared
// and per-sequence tables), SwiGLU, each forward and backward, plus a tiny LLaMA with
// fused_kernels auto vs off. Tolerances (|got - want| <= atol + rtol·|want|): fp32 1e-5 / 1e-5
// (RoPE forward: exact, it rounds each multiply and add as the reference does), bf16 2e-2 / 2e-2
// (one or two bf16 roundings differ: the kernel keeps fp32 intermediates the reference rounds).
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "models/kernels/fused_ops.h"
#include "models/llama/llama.h"
#include "models/llama/rms_norm.h"
#include "models/llama/rope.h"
#include "tests/support/catch.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::models;

namespace {

const at::Device kCuda(at::kCUDA, 0);

double rtol_for(at::ScalarType t) { return t == at::kFloat ? 1e-5 : 2e-2; }

// A leaf on the GPU that records its gradient.
at::Tensor leaf(const at::Tensor& cpu, at::ScalarType t) {
  return cpu.to(kCuda, t).detach().requires_grad_(true);
}

}  // namespace

TEST_CASE("fused kernels gpu: RMSNorm forward and backward match the reference", "[cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  struct Case {
    at::ScalarType x, w;
  };
  for (auto c : {Case{at::kFloat, at::kFloat}, Case{at::kBFloat16, at::kBFloat16},
                 Case{at::kBFloat16, at::kFloat}}) {
    INFO("x " << c.x << ", weight " << c.w);
    at::manual_seed(3);
    const int64_t D = 320;  // not a multiple of the block: exercises the tails
    auto x0 = at::randn({3, 37, D}) * 2;
    auto w0 = at::rand({D}) + 0.5;
    auto dy = at::randn({3, 37, D}).to(kCuda, c.x);
    RMSNorm ref(D, 1e-6, at::TensorOptions().device(kCuda).dtype(c.w), FusedKernels::kOff);
    RMSNorm fused(D, 1e-6, at::TensorOptions().device(kCuda).dtype(c.w), FusedKernels::kAuto);
    {
      at::NoGradGuard g;
      ref->weight.copy_(w0);
      fused->weight.copy_(w0);
    }
    auto xr = leaf(x0, c.x), xf = leaf(x0, c.x);
    auto yr = ref->forward(xr), yf = fused->forward(xf);
    CHECK(yf.scalar_type() == c.x);
    const double tol = rtol_for(c.x);
    IBLLM_CHECK_TENSOR(yf.cpu().to(at::kFloat), yr.cpu().to(at::kFloat), tol, tol);
    yr.backward(dy);
    yf.backward(dy);
    IBLLM_CHECK_TENSOR(xf.grad().cpu().to(at::kFloat), xr.grad().cpu().to(at::kFloat), tol, tol);
    IBLLM_CHECK_TENSOR(fused->weight.grad().cpu().to(at::kFloat),
                       ref->weight.grad().cpu().to(at::kFloat), tol, tol * 5);
  }
  // A frozen weight: no weight gradient computed, the input gradient unchanged.
  RMSNorm frozen(64, 1e-6, at::TensorOptions().device(kCuda), FusedKernels::kOn);
  frozen->weight.requires_grad_(false);
  auto x = leaf(at::randn({5, 64}), at::kFloat);
  frozen->forward(x).sum().backward();
  CHECK(x.grad().defined());
  CHECK_FALSE(frozen->weight.grad().defined());
}

TEST_CASE("fused kernels gpu: RoPE forward and backward match apply_rope", "[cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  for (auto t : {at::kFloat, at::kBFloat16}) {
    for (bool per_sequence : {false, true}) {
      INFO(t << (per_sequence ? ", (B,S) positions" : ", (S) positions"));
      at::manual_seed(5);
      const int64_t B = 2, S = 9, H = 3, hd = 16;
      auto positions = per_sequence ? at::randint(0, 40, {B, S}, at::kLong) : at::arange(S);
      auto table = rope_table(positions.to(kCuda), hd, 10000.0);
      auto x0 = at::randn({B, S, H, hd});
      auto dy = at::randn({B, S, H, hd}).to(kCuda, t);
      auto xr = leaf(x0, t), xf = leaf(x0, t);
      auto yr = apply_rope(xr, table);
      auto yf = fused_rope(xf, table.cos, table.sin);
      const double tol = t == at::kFloat ? 0.0 : rtol_for(t);
      IBLLM_CHECK_TENSOR(yf.cpu().to(at::kFloat), yr.cpu().to(at::kFloat), tol, tol);
      yr.backward(dy);
      yf.backward(dy);
      const double gtol = rtol_for(t);
      IBLLM_CHECK_TENSOR(xf.grad().cpu().to(at::kFloat), xr.grad().cpu().to(at::kFloat), gtol,
                         gtol);
    }
  }
}

TEST_CASE("fused kernels gpu: SwiGLU forward and backward match silu(a)*b", "[cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  for (auto t : {at::kFloat, at::kBFloat16}) {
    INFO(t);
    at::manual_seed(7);
    auto a0 = at::randn({4, 33, 96}) * 3, b0 = at::randn({4, 33, 96});
    auto dy = at::randn({4, 33, 96}).to(kCuda, t);
    auto ar = leaf(a0, t), br = leaf(b0, t), af = leaf(a0, t), bf = leaf(b0, t);
    auto yr = at::silu(ar) * br;
    auto yf = fused_swiglu(af, bf);
    const double tol = rtol_for(t);
    IBLLM_CHECK_TENSOR(yf.cpu().to(at::kFloat), yr.cpu().to(at::kFloat), tol, tol);
    yr.backward(dy);
    yf.backward(dy);
    IBLLM_CHECK_TENSOR(af.grad().cpu().to(at::kFloat), ar.grad().cpu().to(at::kFloat), tol, tol);
    IBLLM_CHECK_TENSOR(bf.grad().cpu().to(at::kFloat), br.grad().cpu().to(at::kFloat), tol, tol);
  }
  // Non-contiguous inputs (a slice) are made contiguous, not misread.
  auto big = at::randn({8, 64}, at::TensorOptions().device(kCuda));
  auto a = big.narrow(1, 0, 32), b = big.narrow(1, 32, 32);
  IBLLM_CHECK_TENSOR(fused_swiglu(a, b).cpu(), (at::silu(a) * b).cpu(), 1e-5, 1e-5);
}

TEST_CASE("fused kernels gpu: a tiny LLaMA with fused_kernels auto matches off", "[cuda]") {
  if (!at::hasCUDA()) IBLLM_SKIP("no CUDA device");
  for (auto t : {at::kFloat, at::kBFloat16}) {
    INFO("base weights " << t);
    auto build = [&](FusedKernels mode) {
      auto cfg = llama_preset("tiny");
      cfg.w_bias = cfg.w_lora = true;
      cfg.fused_kernels = mode;
      at::manual_seed(11);
      Llama m(cfg);  // init on the CPU (same draws), then moved
      m->reset_parameters();
      m->to(kCuda, t);
      for (auto& p : m->named_parameters(true))
        if (p.key().find("lora") != std::string::npos || p.key().find("norm") != std::string::npos)
          p.value().set_data(p.value().data().to(at::kFloat));  // fp32 trainables, as training does
      return m;
    };
    auto off = build(FusedKernels::kOff);
    auto fused = build(FusedKernels::kAuto);
    auto tokens = at::randint(3, 64, {2, 11}, at::kLong).to(kCuda);
    auto lo = off->forward(tokens), lf = fused->forward(tokens);
    const double range = lo.abs().max().item<double>();
    const double err = (lf - lo).abs().max().item<double>();
    INFO("logits max abs difference " << err << " of range " << range);
    CHECK(err <= (t == at::kFloat ? 1e-4 : 0.05) * range);
    lo.square().mean().backward();
    lf.square().mean().backward();
    auto pf = fused->named_parameters(true);
    for (const auto& p : off->named_parameters(true)) {
      const auto& go = p.value().grad();
      if (!go.defined()) continue;
      const auto gf = pf[p.key()].grad();
      REQUIRE(gf.defined());
      const double gr = go.abs().max().item<double>();
      const double ge = (gf - go).abs().max().item<double>();
      INFO(p.key() << ": grad max abs difference " << ge << " of range " << gr);
      CHECK(ge <= (t == at::kFloat ? 1e-4 : 0.1) * gr + 1e-7);
    }
  }
}
