// Decode throughput on the current device (hidden tag [.bench], run by name; prints, asserts nothing about
// speed): a 7B-shaped-but-narrow model (dim 512, 8 layers, 32000 vocab) generating 64 tokens greedily
// at batch 1 and 8 after a 32-token prompt, with one adapter token per layer.
#include <chrono>
#include <cstdio>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "models/llama/generate.h"
#include "tests/support/catch.h"

using namespace ibllm::models;

TEST_CASE("llama bench: batched KV-cache decode tokens/s", "[.bench]") {
  at::manual_seed(0);
  auto cfg = llama_preset("7B");
  cfg.dim = 512;
  cfg.n_layers = 8;
  cfg.n_heads = 8;
  const bool cuda = at::hasCUDA();
  auto opts = cuda ? at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16) : at::kFloat;
  Llama m(cfg, opts);
  m->reset_parameters();
  for (int64_t B : {1, 8}) {
    std::vector<std::vector<int64_t>> prompts(B, std::vector<int64_t>(32, 5));
    std::vector<at::Tensor> adapters(cfg.n_layers, at::randn({B, 1, cfg.dim}, opts));
    GenerationConfig gc;
    gc.temperature = 0.0;
    gc.max_new_tokens = 64;
    gc.eos_id = -1;
    generate(*m, prompts, adapters, gc);  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    auto res = generate(*m, prompts, adapters, gc);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("llama decode (%s, dim 512 x 8 layers, vocab 32000): batch %lld: %.1f tokens/s\n",
                cuda ? "cuda bf16" : "cpu fp32", static_cast<long long>(B), B * 64 / s);
    CHECK(res.tokens[0].size() == 64);
  }
}
