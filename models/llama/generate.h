// Batched text generation with the KV cache (spec §5.2 without its limits): prompts of different
// lengths are left-padded (positions restart per sequence, padding masked), greedy or temperature
// + the reference top-p rule, per-sequence stop at EOS, max_new_tokens, one seeded CPU generator per
// sequence (seed + index, so a batch samples exactly like the same prompts run one by one), and the
// adapter terms prepared once per request. Works on token ids; the tokenizer lives in data/.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "models/llama/llama.h"

namespace ibllm::models {

struct GenerationResult {
  std::vector<std::vector<int64_t>> tokens;  // generated ids per sequence, EOS excluded
  std::vector<bool> stopped_at_eos;
  // Σ log p(token) of the generated tokens (EOS included when it ended the sequence) under the
  // model's own distribution (temperature 1, no top-p): the score of the answer, and the signal
  // that tells two conditionings apart when their greedy answers agree.
  std::vector<double> logprob;
};

// Reference top-p (spec §5.2): sort descending, drop tokens whose exclusive cumulative mass
// (cumsum - p_i) exceeds top_p, renormalise. probs (B,V) -> (B,V) in the original order.
at::Tensor top_p_filter(const at::Tensor& probs, double top_p);

// logits (B,V) fp32 -> next ids (B) int64 on CPU. temperature 0: argmax; else softmax(logits/T),
// top-p filter, one multinomial draw per row from generators[row].
at::Tensor sample_next(const at::Tensor& logits, double temperature, double top_p,
                       std::vector<at::Generator>& generators);

// Called for every generated token (not EOS) as soon as it is sampled: (sequence index, id).
using TokenCallback = std::function<void(int64_t sequence, int64_t token)>;

// prompts: token ids (with BOS) per sequence; adapters: empty or one (B|1,L,D) per layer.
GenerationResult generate(LlamaImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                          const std::vector<at::Tensor>& adapters, const GenerationConfig& cfg,
                          const TokenCallback& on_token = {});

}  // namespace ibllm::models
