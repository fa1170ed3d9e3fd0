// Generation loop, reference top-p and sampling. Sampling runs on CPU with one generator per
// sequence, in the reference's sorted order (multinomial over the sorted, filtered probabilities,
// then mapped back), so results do not depend on the device or on the batch composition.
#include "models/llama/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <string>

#include "src/core/error.h"

namespace ibllm::models {

namespace {

// probs (B,V) -> (filtered probabilities in descending order, their original indices)
std::pair<at::Tensor, at::Tensor> top_p_sorted(const at::Tensor& probs, double top_p) {
  auto sorted = at::sort(probs, -1, /*descending=*/true);
  auto p = std::get<0>(sorted);
  auto exclusive = at::cumsum(p, -1) - p;
  p = p.masked_fill(exclusive.gt(top_p), 0.0);
  return {p / p.sum(-1, /*keepdim=*/true), std::get<1>(sorted)};
}

}  // namespace

at::Tensor top_p_filter(const at::Tensor& probs, double top_p) {
  auto [p, idx] = top_p_sorted(probs, top_p);
  return at::zeros_like(probs).scatter(-1, idx, p);
}

at::Tensor sample_next(const at::Tensor& logits, double temperature, double top_p,
                       std::vector<at::Generator>& generators) {
  // logits (B,V) -> (B) int64, CPU
  auto l = logits.to(at::kCPU, at::kFloat);
  if (temperature <= 0.0) return l.argmax(-1);
  TORCH_CHECK(static_cast<int64_t>(generators.size()) == l.size(0), "one generator per row");
  auto [p, idx] = top_p_sorted(at::softmax(l / temperature, -1), top_p);
  auto next = at::empty({l.size(0)}, at::kLong);
  for (int64_t b = 0; b < l.size(0); ++b) {
    auto pick = at::multinomial(p[b], 1, /*replacement=*/false, generators[b]);
    next[b] = idx[b][pick.item<int64_t>()];
  }
  return next;
}

GenerationResult generate(LlamaImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                          const std::vector<at::Tensor>& adapters, const GenerationConfig& cfg,
                          const TokenCallback& on_token) {
  if (prompts.empty()) throw ModelError("generate: no prompts given");
  if (cfg.max_new_tokens < 1) throw ModelError("generate: max_new_tokens must be >= 1");
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t P = 0;
  for (const auto& p : prompts) {
    if (p.empty()) throw ModelError("generate: empty prompt", "prompts start with BOS");
    P = std::max<int64_t>(P, static_cast<int64_t>(p.size()));
  }
  const int64_t max_len = model.config().max_seq_len;
  if (P >= max_len)
    throw ModelError("prompt of " + std::to_string(P) + " tokens leaves no room to generate (" +
                         "max_seq_len " + std::to_string(max_len) + ")",
                     "shorten the prompt or raise model.llama.max_seq_len");
  const int64_t total = std::min<int64_t>(max_len, P + cfg.max_new_tokens);

  at::NoGradGuard no_grad;
  const auto device = model.tok_embeddings->weight.device();
  std::vector<int64_t> pads(B), flat(B * P, cfg.pad_id);
  for (int64_t b = 0; b < B; ++b) {
    pads[b] = P - static_cast<int64_t>(prompts[b].size());
    std::copy(prompts[b].begin(), prompts[b].end(), flat.begin() + b * P + pads[b]);
  }
  auto tokens = at::tensor(flat, at::kLong).view({B, P}).to(device);
  auto cache = model.make_cache(B, total, pads);
  auto terms = model.prepare_adapters(adapters);  // once per request

  std::vector<at::Generator> gens;
  for (int64_t b = 0; b < B; ++b)
    gens.push_back(at::detail::createCPUGenerator(static_cast<uint64_t>(cfg.seed + b)));

  GenerationResult res;
  res.tokens.assign(B, {});
  res.stopped_at_eos.assign(B, false);
  res.logprob.assign(B, 0.0);
  std::vector<bool> done(B, false);
  auto logits = model.forward_cached(tokens, cache, terms, /*last_only=*/true).select(1, 0);
  while (true) {
    const auto l = logits.to(at::kCPU, at::kFloat);  // one device->host copy per step
    auto next = sample_next(l, cfg.temperature, cfg.top_p, gens);
    const auto lp = at::log_softmax(l, -1).gather(1, next.view({B, 1})).view({B});
    auto nx = next.accessor<int64_t, 1>();
    auto lpa = lp.accessor<float, 1>();
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      res.logprob[b] += lpa[b];
      if (nx[b] == cfg.eos_id) {
        done[b] = true;
        res.stopped_at_eos[b] = true;
      } else {
        res.tokens[b].push_back(nx[b]);
        if (on_token) on_token(b, nx[b]);
        if (static_cast<int64_t>(res.tokens[b].size()) >= total - P) done[b] = true;
      }
      all_done = all_done && done[b];
    }
    if (all_done) break;
    logits = model.forward_cached(next.view({B, 1}).to(device), cache, terms, true).select(1, 0);
  }
  return res;
}

}  // namespace ibllm::models
