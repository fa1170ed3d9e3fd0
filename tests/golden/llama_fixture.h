// Helpers for the LLaMA golden/unit tests: fixture paths, loading a fixture state dict into a
// module (every parameter must be present with its exact shape), per-layer adapter inputs
// a_l = visual + prefix_l (spec §3.3), and deterministic non-trivial deltas for models built in
// C++.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace ibllm::test::llama {

inline std::string fixture(const std::string& name) {
  return (source_dir() / "tests" / "golden" / "fixtures" / "llama" / name).string();
}

inline std::map<std::string, at::Tensor> read_fixture(const std::string& name) {
  return io::read_safetensors(fixture(name));
}

// Copies src[prefix + name] into every parameter of m; a missing key or shape mismatch fails.
inline void load_params(torch::nn::Module& m, const std::map<std::string, at::Tensor>& src,
                        const std::string& prefix = "") {
  at::NoGradGuard guard;
  for (auto& p : m.named_parameters(true)) {
    auto it = src.find(prefix + p.key());
    INFO("parameter " << p.key());
    REQUIRE(it != src.end());
    REQUIRE(it->second.sizes() == p.value().sizes());
    p.value().copy_(it->second);
  }
}

// One (B,1,D) adapter input per layer: visual (B,1,D) + prefix[l] (D).
inline std::vector<at::Tensor> adapters_from(const at::Tensor& visual, const at::Tensor& prefix) {
  std::vector<at::Tensor> a;
  for (int64_t l = 0; l < prefix.size(0); ++l) a.push_back(visual + prefix[l].view({1, 1, -1}));
  return a;
}

// Per-layer slices of a stacked (n_layers, B, L, D) tensor.
inline std::vector<at::Tensor> unstack(const at::Tensor& t) {
  std::vector<at::Tensor> a;
  for (int64_t l = 0; l < t.size(0); ++l) a.push_back(t[l]);
  return a;
}

// Seeded values for every parameter whose name contains gate/bias/lora (the deltas are zero after
// construction, which would hide bugs in their paths).
inline void randomize_deltas(torch::nn::Module& m, uint64_t seed, double gate_scale = 0.8) {
  at::NoGradGuard guard;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : m.named_parameters(true)) {
    const auto& k = p.key();
    double scale = 0.0;
    if (k.find("gate") != std::string::npos)
      scale = gate_scale;
    else if (k.find("bias") != std::string::npos)
      scale = 0.1;
    else if (k.find("lora") != std::string::npos)
      scale = 0.2;
    if (scale == 0.0) continue;
    auto r = at::empty(p.value().sizes(), at::kFloat).normal_(0.0, scale, gen);
    p.value().copy_(r);
  }
}

}  // namespace ibllm::test::llama
