// Golden parity of the C++ LLaMA against tests/golden/gen/llama_reference.py (our own PyTorch
// restatement of spec §2.2/§3.3/§3.4/§5.2; fixtures from llama_make_fixtures.py): logits of a tiny
// GQA model plain, with bias+LoRA+gates and one or several adapter tokens, the loss and every delta
// gradient, a second (MHA, ffn_dim_multiplier, rope_theta 5e5) config, pinned greedy generation,
// the top-p rule, LoRA merge and the reference key list.
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>

#include "models/llama/generate.h"
#include "models/llama/llama.h"
#include "models/llama/lm_loss.h"
#include "models/llama/weights.h"
#include "src/core/error.h"
#include "tests/golden/llama_fixture.h"
#include "tests/support/tensor_match.h"

using namespace ibllm;
using namespace ibllm::models;
using namespace ibllm::test::llama;

namespace {

// fp32 on CPU: our kernels and the reference's differ only in summation order.
constexpr double kRtol = 1e-5, kAtol = 1e-5;

LlamaConfig tiny(bool deltas) {
  auto c = llama_preset("tiny");
  c.w_bias = c.w_lora = deltas;
  c.attention = models::AttentionChoice::kMath;
  return c;
}

std::vector<std::vector<int64_t>> to_ids(const at::Tensor& t) {
  std::vector<int64_t> v(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  return {v};
}

}  // namespace

TEST_CASE("llama golden: plain tiny model logits", "[llama][golden]") {
  auto w = read_fixture("tiny_weights.safetensors");
  auto cases = read_fixture("tiny_cases.safetensors");
  Llama m(tiny(false));
  load_params(*m, w);
  at::NoGradGuard g;
  IBLLM_CHECK_TENSOR(m->forward(cases.at("tokens")), cases.at("logits_plain"), kRtol, kAtol);
}

TEST_CASE("llama golden: bias+LoRA+gates, one adapter token: logits, loss, gradients",
          "[llama][golden]") {
  auto w = read_fixture("tiny_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  Llama m(tiny(true));
  load_params(*m, w);
  auto visual = c.at("visual").clone().requires_grad_(true);
  auto prefix = c.at("prefix").clone().requires_grad_(true);
  auto logits = m->forward(c.at("tokens"), adapters_from(visual, prefix));
  IBLLM_CHECK_TENSOR(logits, c.at("logits_full"), kRtol, kAtol);
  auto loss = reference_lm_loss(logits, c.at("labels"));
  IBLLM_CHECK_TENSOR(loss.reshape({1}), c.at("loss_full"), kRtol, 0.0);
  loss.backward();
  // gradients: 1e-5 relative, plus 1e-5 of the largest gradient for entries near zero.
  auto check_grad = [](const std::string& name, const at::Tensor& got, const at::Tensor& want) {
    INFO("gradient of " << name);
    REQUIRE(got.defined());
    const double scale = want.abs().max().item<double>();
    IBLLM_CHECK_TENSOR(got, want, 1e-5, 1e-5 * scale);
  };
  check_grad("visual", visual.grad(), c.at("grad.visual"));
  check_grad("prefix", prefix.grad(), c.at("grad.prefix"));
  int n = 0;
  for (auto& p : m->named_parameters(true)) {
    auto it = c.find("grad." + p.key());
    if (it == c.end()) continue;
    check_grad(p.key(), p.value().grad(), it->second);
    ++n;
  }
  // 2 layers × (gate, 2 biases, 8 attention LoRA, 3 FFN biases, 6 FFN LoRA, 2 norms) + norm
  CHECK(n == 2 * 22 + 1);
}

TEST_CASE("llama golden: several adapter tokens use the gated softmax path", "[llama][golden]") {
  auto w = read_fixture("tiny_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  Llama m(tiny(true));
  load_params(*m, w);
  at::NoGradGuard g;
  IBLLM_CHECK_TENSOR(m->forward(c.at("tokens"), unstack(c.at("adapter_multi"))),
                     c.at("logits_multi"), kRtol, kAtol);
  IBLLM_CHECK_TENSOR(m->forward(c.at("tokens")), c.at("logits_full_no_adapter"), kRtol, kAtol);
}

TEST_CASE("llama golden: MHA config with ffn_dim_multiplier and rope_theta 5e5",
          "[llama][golden]") {
  auto c = read_fixture("mha_case.safetensors");
  LlamaConfig cfg = llama_preset("tiny");
  cfg.n_layers = 1;
  cfg.n_kv_heads = 0;
  cfg.vocab_size = 48;
  cfg.ffn_dim_multiplier = 1.3;
  cfg.rope_theta = 500000.0;
  cfg.norm_eps = 1e-5;
  cfg.w_bias = cfg.w_lora = true;
  cfg.lora_rank = 2;
  cfg.attention = models::AttentionChoice::kMath;
  REQUIRE(cfg.ffn_hidden() == 112);
  Llama m(cfg);
  load_params(*m, c, "w.");
  at::NoGradGuard g;
  IBLLM_CHECK_TENSOR(m->forward(c.at("tokens"), adapters_from(c.at("visual"), c.at("prefix"))),
                     c.at("logits_full"), kRtol, kAtol);
  IBLLM_CHECK_TENSOR(m->forward(c.at("tokens"), unstack(c.at("adapter_multi"))),
                     c.at("logits_multi"), kRtol, kAtol);
}

TEST_CASE("llama golden: greedy generation is pinned, batched and one by one", "[llama][golden]") {
  auto w = read_fixture("tiny_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  Llama m(tiny(true));
  load_params(*m, w);
  GenerationConfig gc;
  gc.temperature = 0.0;
  gc.max_new_tokens = static_cast<int>(c.at("gen.max_gen_len").item<int64_t>());
  gc.eos_id = c.at("gen.eos").item<int64_t>();
  std::vector<std::vector<int64_t>> prompts = {to_ids(c.at("gen.prompt0"))[0],
                                               to_ids(c.at("gen.prompt1"))[0]};
  std::vector<std::vector<int64_t>> expected = {to_ids(c.at("gen.out0"))[0],
                                                to_ids(c.at("gen.out1"))[0]};
  auto batched = generate(*m, prompts, adapters_from(c.at("visual"), c.at("prefix")), gc);
  CHECK(batched.tokens == expected);
  CHECK(batched.stopped_at_eos == std::vector<bool>{true, false});
  for (int b = 0; b < 2; ++b) {
    auto one = generate(*m, {prompts[b]},
                        adapters_from(c.at("visual").narrow(0, b, 1), c.at("prefix")), gc);
    CHECK(one.tokens[0] == expected[b]);
  }
}

TEST_CASE("llama golden: reference top-p rule", "[llama][golden]") {
  auto c = read_fixture("tiny_cases.safetensors");
  IBLLM_CHECK_TENSOR(top_p_filter(c.at("top_p.probs"), 0.75), c.at("top_p.filtered_075"), 1e-6,
                     1e-7);
  IBLLM_CHECK_TENSOR(top_p_filter(c.at("top_p.probs"), 0.30), c.at("top_p.filtered_030"), 1e-6,
                     1e-7);
}

TEST_CASE("llama golden: LoRA merge keeps the logits and leaves wv alone", "[llama][golden]") {
  auto w = read_fixture("tiny_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  Llama m(tiny(true));
  load_params(*m, w);
  m->merge_lora();
  auto& att = *m->layers->ptr<TransformerBlockImpl>(0)->attention;
  // merged: W' = W + B·A exactly as the reference formula, B zeroed; wv and its LoRA untouched
  auto wq = w.at("layers.0.attention.wq.weight") +
            at::matmul(w.at("layers.0.attention.lora_wq_l2.weight"),
                       w.at("layers.0.attention.lora_wq_l1.weight"));
  IBLLM_CHECK_TENSOR(att.wq->weight, wq, 1e-6, 1e-7);
  CHECK(att.lora_wq_l2->weight.abs().max().item<double>() == 0.0);
  CHECK(at::equal(att.wv->weight, w.at("layers.0.attention.wv.weight")));
  CHECK(at::equal(att.lora_wv_l2->weight, w.at("layers.0.attention.lora_wv_l2.weight")));
  at::NoGradGuard g;
  IBLLM_CHECK_TENSOR(m->forward(c.at("tokens"), adapters_from(c.at("visual"), c.at("prefix"))),
                     c.at("logits_full"), kRtol, kAtol);
}

TEST_CASE("llama golden: key list of the tiny bias+LoRA model equals the reference",
          "[llama][golden]") {
  std::ifstream in(fixture("tiny_bias_lora_keys.txt"));
  REQUIRE(in);
  std::vector<std::string> expected, got;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') expected.push_back(line);
  Llama m(tiny(true));
  for (auto& p : m->named_parameters(true)) {
    std::ostringstream os;
    os << p.key() << " ";
    for (int64_t d = 0; d < p.value().dim(); ++d) os << (d ? "x" : "") << p.value().size(d);
    got.push_back(os.str());
  }
  std::sort(got.begin(), got.end());
  CHECK(got == expected);
}

TEST_CASE("llama golden: Meta and HF layouts give identical logits after the key map",
          "[llama][golden]") {
  auto meta = read_fixture("tiny_weights.safetensors");
  auto hf = read_fixture("tiny_hf_weights.safetensors");
  auto c = read_fixture("tiny_cases.safetensors");
  CHECK(detect_llama_layout(meta) == LlamaLayout::kMeta);
  CHECK(detect_llama_layout(hf) == LlamaLayout::kHuggingFace);
  // a base checkpoint has no deltas: keep only base keys of the Meta fixture (+ a RoPE buffer)
  std::map<std::string, at::Tensor> base;
  for (const auto& [k, v] : meta)
    if (k.find("lora") == std::string::npos && k.find("bias") == std::string::npos &&
        k.find("gate") == std::string::npos)
      base.emplace(k, v);
  base.emplace("rope.freqs", at::zeros({4}));
  at::NoGradGuard g;
  for (const auto* src : {&base, &hf}) {
    Llama m(tiny(false));  // gated_injection: the gates stay zero (missing is allowed)
    auto report = load_llama_base_weights(*m, *src);
    CHECK(report.missing.empty());
    IBLLM_CHECK_TENSOR(m->forward(c.at("tokens")), c.at("logits_plain"), kRtol, kAtol);
  }
  // a missing base tensor is an error naming it
  auto broken = base;
  broken.erase("layers.1.feed_forward.w2.weight");
  Llama m(tiny(false));
  CHECK_THROWS_AS(load_llama_base_weights(*m, broken), CheckpointError);
}
