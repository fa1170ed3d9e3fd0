// LLaMA behaviour that needs no reference numbers: the random base does not depend on the deltas,
// zero gates are an exact no-op, the KV cache
// reproduces the full forward for prefill / single / multi-token steps, left-padded batches equal
// their sequences run alone, batched sampling equals per-sample sampling, bf16 base weights with
// fp32 deltas, the loss helpers, and clear errors for misuse.
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "models/llama/generate.h"
#include "models/llama/llama.h"
#include "models/llama/lm_loss.h"
#include "src/core/error.h"
#include "tests/golden/llama_fixture.h"
#include "tests/support/tensor_match.h"

using namespace ibllm;
using namespace ibllm::models;
using namespace ibllm::test::llama;

namespace {

LlamaConfig tiny_cfg(bool deltas = true) {
  auto c = llama_preset("tiny");
  c.w_bias = c.w_lora = deltas;
  c.attention = models::AttentionChoice::kMath;
  return c;
}

Llama random_model(uint64_t seed, bool deltas = true, double gate_scale = 0.8) {
  at::manual_seed(seed);
  Llama m(tiny_cfg(deltas));
  m->reset_parameters();
  randomize_deltas(*m, seed + 1, gate_scale);
  return m;
}

at::Tensor rand_tokens(int64_t B, int64_t S, uint64_t seed) {
  auto g = at::detail::createCPUGenerator(seed);
  return at::randint(1, 64, {B, S}, g, at::kLong);
}

std::vector<at::Tensor> rand_adapters(int64_t B, int64_t L, uint64_t seed, int layers = 2) {
  auto g = at::detail::createCPUGenerator(seed);
  std::vector<at::Tensor> a;
  for (int l = 0; l < layers; ++l) a.push_back(at::randn({B, L, 32}, g));
  return a;
}

}  // namespace

TEST_CASE("llama: a seed gives the same base weights with or without biases / LoRA", "[llama]") {
  // Two-stage recipes (pretrain without deltas, finetune with) on a random base must see one base.
  at::manual_seed(5);
  Llama plain(tiny_cfg(false));
  plain->reset_parameters();
  at::manual_seed(5);
  Llama deltas(tiny_cfg(true));
  deltas->reset_parameters();
  const auto with = deltas->named_parameters(true);
  size_t compared = 0;
  for (const auto& kv : plain->named_parameters(true)) {
    INFO(kv.key());
    const auto* t = with.find(kv.key());
    REQUIRE(t != nullptr);
    CHECK(at::equal(kv.value(), *t));
    ++compared;
  }
  CHECK(compared == plain->named_parameters(true).size());
  CHECK(with.size() > compared);  // the delta model does have extra tensors
}

TEST_CASE("llama: zero gates make the injection an exact no-op", "[llama]") {
  auto m = random_model(11, true, /*gate_scale=*/0.0);
  at::NoGradGuard g;
  auto tokens = rand_tokens(2, 7, 1);
  auto plain = m->forward(tokens);
  for (int64_t L : {1, 3}) {
    INFO("adapter length " << L);
    CHECK(at::equal(m->forward(tokens, rand_adapters(2, L, 2)), plain));
  }
  // and non-zero gates do change the output
  auto m2 = random_model(11, true, 0.8);
  CHECK_FALSE(at::allclose(m2->forward(tokens, rand_adapters(2, 1, 2)), m2->forward(tokens)));
}

TEST_CASE("llama: KV-cache decoding equals the full forward at every step", "[llama]") {
  auto m = random_model(21);
  at::NoGradGuard g;
  auto tokens = rand_tokens(2, 12, 3);
  for (int64_t L : {0, 1, 2}) {
    INFO("adapter length " << L);
    auto adapters = L == 0 ? std::vector<at::Tensor>{} : rand_adapters(2, L, 4);
    auto full = m->forward(tokens, adapters);
    auto terms = m->prepare_adapters(adapters);
    auto cache = m->make_cache(2, 12);
    std::vector<at::Tensor> parts;
    int64_t col = 0;
    for (int64_t step : {4, 1, 3, 1, 2, 1}) {  // prefill, single, multi after prefix, ...
      parts.push_back(m->forward_cached(tokens.narrow(1, col, step), cache, terms));
      col += step;
    }
    REQUIRE(col == 12);
    CHECK(cache.length == 12);
    IBLLM_CHECK_TENSOR(at::cat(parts, 1), full, 1e-5, 1e-5);
    // last_only gives the last position of a step
    auto cache2 = m->make_cache(2, 12);
    auto last = m->forward_cached(tokens.narrow(1, 0, 5), cache2, terms, true);
    IBLLM_CHECK_TENSOR(last, full.narrow(1, 4, 1), 1e-5, 1e-5);
  }
}

TEST_CASE("llama: a left-padded batch equals each sequence alone", "[llama]") {
  auto m = random_model(31);
  at::NoGradGuard g;
  auto adapters = rand_adapters(2, 1, 5);
  auto terms = m->prepare_adapters(adapters);
  auto a = rand_tokens(1, 3, 6), b = rand_tokens(1, 7, 7);
  auto batch = at::zeros({2, 7}, at::kLong);
  batch[0].narrow(0, 4, 3).copy_(a[0]);
  batch[1].copy_(b[0]);
  auto cache = m->make_cache(2, 9, {4, 0});
  auto prefill = m->forward_cached(batch, cache, terms);
  auto next = rand_tokens(2, 1, 8);
  auto step = m->forward_cached(next, cache, terms);
  for (int64_t i = 0; i < 2; ++i) {
    INFO("sequence " << i);
    auto seq = i == 0 ? a : b;
    std::vector<at::Tensor> one{adapters[0].narrow(0, i, 1), adapters[1].narrow(0, i, 1)};
    auto full = m->forward(at::cat({seq, next.narrow(0, i, 1)}, 1), one);
    const int64_t n = seq.size(1);
    IBLLM_CHECK_TENSOR(prefill[i].narrow(0, 7 - n, n), full[0].narrow(0, 0, n), 1e-5, 1e-5);
    IBLLM_CHECK_TENSOR(step[i][0], full[0][n], 1e-5, 1e-5);
  }
}

TEST_CASE("llama: batched generation equals per-sample generation", "[llama]") {
  auto m = random_model(41);
  std::vector<std::vector<int64_t>> prompts = {{1, 5, 9}, {1, 7, 3, 22, 40, 11}, {1, 60}};
  auto adapters = rand_adapters(3, 1, 9);
  for (double temperature : {0.0, 1.0}) {
    INFO("temperature " << temperature);
    GenerationConfig gc;
    gc.temperature = temperature;
    gc.top_p = 0.9;
    gc.max_new_tokens = 8;
    gc.eos_id = 2;
    gc.seed = 1234;
    auto batched = generate(*m, prompts, adapters, gc);
    REQUIRE(batched.tokens.size() == 3);
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerationConfig one = gc;
      one.seed = gc.seed + static_cast<int64_t>(i);  // sequence i samples with seed + i
      std::vector<at::Tensor> a{adapters[0].narrow(0, i, 1), adapters[1].narrow(0, i, 1)};
      auto single = generate(*m, {prompts[i]}, a, one);
      CHECK(single.tokens[0] == batched.tokens[i]);
      CHECK(batched.tokens[i].size() <= 8);
    }
    auto again = generate(*m, prompts, adapters, gc);
    CHECK(again.tokens == batched.tokens);  // seeded: reproducible
  }
}

TEST_CASE("llama: greedy generation follows the argmax of the full forward", "[llama]") {
  auto m = random_model(51);
  GenerationConfig gc;
  gc.temperature = 0.0;
  gc.max_new_tokens = 5;
  gc.eos_id = -1;  // never stops early
  std::vector<int64_t> prompt = {1, 17, 33};
  auto out = generate(*m, {prompt}, {}, gc).tokens[0];
  REQUIRE(out.size() == 5);
  at::NoGradGuard g;
  auto seq = prompt;
  for (auto t : out) {
    auto logits = m->forward(at::tensor(seq, at::kLong).view({1, -1}));
    CHECK(logits[0][-1].argmax().item<int64_t>() == t);
    seq.push_back(t);
  }
}

TEST_CASE("llama: sampling rules", "[llama]") {
  auto probs = at::tensor({0.5f, 0.3f, 0.15f, 0.05f}).view({1, 4});
  // exclusive cumsum 0, .5, .8, .95: with top_p .6 tokens 0 and 1 survive (the crossing one stays)
  auto f = top_p_filter(probs, 0.6);
  IBLLM_CHECK_TENSOR(f, at::tensor({0.625f, 0.375f, 0.f, 0.f}).view({1, 4}), 1e-6, 1e-7);
  std::vector<at::Generator> gens{at::detail::createCPUGenerator(3)};
  auto logits = at::log(probs);
  CHECK(sample_next(logits, 0.0, 0.6, gens).item<int64_t>() == 0);
  for (int i = 0; i < 50; ++i) CHECK(sample_next(logits, 1.0, 0.6, gens).item<int64_t>() < 2);
}

TEST_CASE("llama: bf16 base weights with fp32 deltas", "[llama]") {
  auto ref = random_model(61);
  Llama m(tiny_cfg(), at::kBFloat16);
  {
    at::NoGradGuard g;
    auto src = ref->named_parameters(true);
    for (auto& p : m->named_parameters(true)) p.value().copy_(src[p.key()]);
  }
  auto& att = *m->layers->ptr<TransformerBlockImpl>(0)->attention;
  CHECK(att.wq->weight.scalar_type() == at::kBFloat16);
  CHECK(att.wq->bias.scalar_type() == at::kFloat);
  CHECK(att.gate.scalar_type() == at::kFloat);
  CHECK(att.lora_wq_l1->weight.scalar_type() == at::kFloat);
  auto tokens = rand_tokens(2, 6, 10);
  auto adapters = rand_adapters(2, 1, 11);
  auto logits = m->forward(tokens, adapters);
  CHECK(logits.scalar_type() == at::kFloat);
  at::Tensor want;
  {
    at::NoGradGuard g;
    want = ref->forward(tokens, adapters);
  }
  // bf16 keeps 8 bits of mantissa: logits agree to a few percent of their range
  const double range = want.abs().max().item<double>();
  CHECK((logits - want).abs().max().item<double>() < 0.05 * range);
  logits.sum().backward();
  CHECK(att.gate.grad().defined());
  CHECK(att.gate.grad().scalar_type() == at::kFloat);
  CHECK(att.lora_wq_l1->weight.grad().scalar_type() == at::kFloat);
}

TEST_CASE("llama: loss helpers", "[llama]") {
  auto g = at::detail::createCPUGenerator(5);
  auto logits = at::randn({2, 4, 8}, g);
  auto labels = at::tensor({0, 0, 3, 4, 0, 5, 0, 0}, at::kLong).view({2, 4});
  auto parts = lm_loss_sum(logits, labels);
  CHECK(parts.count.item<int64_t>() == 3);
  auto manual = -(at::log_softmax(logits[0][1], -1)[3] + at::log_softmax(logits[0][2], -1)[4] +
                  at::log_softmax(logits[1][0], -1)[5]);
  CHECK(parts.sum.item<double>() == Approx(manual.item<double>()).epsilon(1e-6));
  CHECK(reference_lm_loss(logits, labels).item<double>() ==
        Approx(manual.item<double>() / 3).epsilon(1e-6));
  CHECK(reference_lm_loss(logits, at::zeros({2, 4}, at::kLong)).item<double>() == 0.0);
}

TEST_CASE("llama: misuse gives clear errors", "[llama]") {
  auto m = random_model(71);
  at::NoGradGuard g;
  CHECK_THROWS_AS(m->forward(rand_tokens(1, 4, 1), rand_adapters(1, 1, 1, /*layers=*/1)),
                  ModelError);
  CHECK_THROWS_AS(m->forward(rand_tokens(1, 33, 1)), ModelError);  // max_seq_len 32
  CHECK_THROWS_AS(m->make_cache(1, 64), ModelError);
  auto cache = m->make_cache(1, 4);
  m->forward_cached(rand_tokens(1, 3, 2), cache);
  CHECK_THROWS_AS(m->forward_cached(rand_tokens(1, 2, 3), cache), ModelError);
  GenerationConfig gc;
  CHECK_THROWS_AS(generate(*m, {}, {}, gc), ModelError);
  CHECK_THROWS_AS(generate(*m, {{}}, {}, gc), ModelError);
  CHECK_THROWS_AS(generate(*m, {std::vector<int64_t>(32, 1)}, {}, gc), ModelError);
  auto no_gate_cfg = tiny_cfg(false);
  no_gate_cfg.gated_injection = false;
  Llama plain(no_gate_cfg);
  for (auto& p : plain->named_parameters(true)) CHECK(p.key().find("gate") == std::string::npos);
  CHECK_THROWS_AS(plain->forward(rand_tokens(1, 3, 1), rand_adapters(1, 1, 1)), ModelError);
  auto bad = tiny_cfg();
  bad.n_kv_heads = 3;
  CHECK_THROWS_AS(Llama(bad), ConfigError);
}
