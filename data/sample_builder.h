// Token ids and loss labels for one record (spec §3.7). `reference` mode reproduces the official
// construction exactly: ids = [BOS]+sp(prompt+answer)+[EOS] cut to max_words, labels = ids with the
// first len([BOS]+sp(prompt)) positions masked, pad and mask value 0 (ignore_index 0). `exact` mode
// tokenises prompt and answer separately ([BOS]+sp(prompt)+sp(answer)+[EOS], one segment per turn)
// so the mask boundary cannot shift, and masks with a negative ignore value. Sequences are returned
// unpadded (cut to max_words); collate pads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_config.h"
#include "data/record.h"

namespace ibllm::data {

class LlamaTokenizer;

struct TokenizedSample {
  std::vector<int64_t> tokens;  // length <= max_words
  std::vector<int64_t> labels;  // same length; ignore value on prompt positions
  bool truncated = false;       // the full sequence was longer than max_words
};

struct SampleOptions {
  MaskMode mask = MaskMode::kExact;
  int64_t max_words = 96;
  int64_t ignore_index = -100;  // exact mode; reference mode always uses 0
  // Effective ignore/pad value of the mode.
  int64_t label_ignore() const { return mask == MaskMode::kReference ? 0 : ignore_index; }
  int64_t token_pad() const { return 0; }  // reference: -1 replaced by 0; exact: any id works
};

// Chooses the caption/answer for this epoch: index = hash(seed, epoch, dataset index) mod count.
size_t choose_answer(size_t count, uint64_t seed, int64_t epoch, int64_t index);

// Builds ids/labels for `record` with the turn answers chosen for (seed, epoch, index).
TokenizedSample build_sample(const Record& record, const LlamaTokenizer& tok,
                             const SampleOptions& o, uint64_t seed, int64_t epoch, int64_t index);

// The prompt/answer strings of a single-turn record (as fed to the tokenizer in reference mode).
std::string record_prompt(const Record& record);

// Deterministic 64-bit mixing (splitmix64), used for per-sample seeds.
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace ibllm::data
