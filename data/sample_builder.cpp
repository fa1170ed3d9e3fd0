// Sample construction in reference and exact mode (see header). The per-epoch answer choice and
// per-sample augmentation seeds depend only on (seed, epoch, index), never on worker scheduling.
#include "data/sample_builder.h"

#include "data/prompt_template.h"
#include "data/tokenizer.h"
#include "src/core/error.h"

namespace ibllm::data {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

size_t choose_answer(size_t count, uint64_t seed, int64_t epoch, int64_t index) {
  if (count <= 1) return 0;
  const uint64_t h = mix_seed(mix_seed(seed ^ 0xC0FFEEULL, static_cast<uint64_t>(epoch)),
                              static_cast<uint64_t>(index));
  return static_cast<size_t>(h % count);
}

std::string record_prompt(const Record& record) {
  if (record.turns.empty()) throw DataError("record without turns");
  return format_prompt(record.turns[0].instruction, record.turns[0].input);
}

TokenizedSample build_sample(const Record& record, const LlamaTokenizer& tok,
                             const SampleOptions& o, uint64_t seed, int64_t epoch, int64_t index) {
  if (record.turns.empty()) throw DataError("record without turns");
  TokenizedSample s;
  const int64_t ignore = o.label_ignore();
  auto answer_of = [&](size_t k) -> const std::string& {
    const Turn& t = record.turns[k];
    if (t.answers.empty()) throw DataError("record turn " + std::to_string(k) + " has no answer");
    return t.answers[choose_answer(t.answers.size(), seed, epoch, index)];
  };

  if (o.mask == MaskMode::kReference) {
    if (record.turns.size() != 1)
      throw DataError("mask: reference builds single-turn samples only (got " +
                          std::to_string(record.turns.size()) + " turns)",
                      "use mask: exact for multi-turn");
    // Reference: the full text is the direct concatenation prompt + answer (no separator).
    const std::string prompt = record_prompt(record);
    const std::vector<int64_t> p = tok.encode(prompt, true, false);
    s.tokens = tok.encode(prompt + answer_of(0), true, true);
    s.labels = s.tokens;
    for (size_t i = 0; i < p.size() && i < s.labels.size(); ++i) s.labels[i] = ignore;
    // A real id 0 (<unk>) is indistinguishable from padding in the reference: it is ignored too.
  } else {
    s.tokens.push_back(tok.bos_id());
    s.labels.push_back(ignore);
    for (size_t k = 0; k < record.turns.size(); ++k) {
      const Turn& t = record.turns[k];
      const std::string prompt = k == 0 ? format_prompt(t.instruction, t.input)
                                        : format_followup_prompt(t.instruction, t.input);
      for (int64_t id : tok.encode(prompt, false, false)) {
        s.tokens.push_back(id);
        s.labels.push_back(ignore);
      }
      for (int64_t id : tok.encode(answer_of(k), false, true)) {
        s.tokens.push_back(id);
        s.labels.push_back(id);
      }
    }
  }
  if (static_cast<int64_t>(s.tokens.size()) > o.max_words) {
    s.truncated = true;  // reference behaviour: plain cut, EOS may be lost
    s.tokens.resize(o.max_words);
    s.labels.resize(o.max_words);
  }
  return s;
}

}  // namespace ibllm::data
