// The CLIP BPE text tokenizer ImageBind's text tower uses (spec §1.4.2): vocabulary from the
// gzip'd merges file (bpe_simple_vocab_16e6.txt.gz), text cleaning, CLIP pre-tokenisation,
// byte-level BPE with a cache, [SOT] ids [EOT] zero-padded to the context length. Truncation keeps
// EOT (upstream fix) unless `reference_truncation` restores ImageBind-LLM's append-then-cut
// behaviour.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ibllm::data {

struct ClipTokenizerOptions {
  int64_t context_length = 77;
  // false: [SOT] + ids cut to context-1, then [EOT] (upstream commit 1125e1e, EOT always present);
  // true: ImageBind-LLM's copy, [SOT] + ids + [EOT] cut to context (EOT lost for long texts).
  bool reference_truncation = false;
};

// Cleaning without ftfy (not available in C++): HTML-unescape twice (numeric references and the
// common named entities), strip, collapse White_Space runs to one space, strip, lower-case (the
// Unicode simple lower-case map of Python's str.lower, plus U+0130 -> "i\u0307"). Invalid UTF-8
// bytes become U+FFFD.
std::string clip_clean_text(const std::string& text);
// The CLIP pattern matched by hand on cleaned text: <|startoftext|>, <|endoftext|>, 's 't 're 've
// 'm 'll 'd, runs of letters (Unicode L*), single numbers (N*), runs of other non-space code
// points.
std::vector<std::string> clip_pretokenize(const std::string& cleaned);

class ClipTokenizer {
 public:
  static constexpr int64_t kSotId = 49406;
  static constexpr int64_t kEotId = 49407;
  static constexpr int64_t kVocabSize = 49408;
  static constexpr int64_t kNumMerges = 48894;

  // merges_path: the .txt.gz (or an uncompressed copy). Throws DataError naming the file when it
  // is missing, unreadable or has fewer than 48894 merge lines.
  explicit ClipTokenizer(const std::string& merges_path, ClipTokenizerOptions options = {});
  ~ClipTokenizer();

  // BPE ids of the cleaned text, without SOT/EOT or padding.
  std::vector<int64_t> encode(const std::string& text) const;
  // [SOT] ids [EOT] truncated and zero-padded to context_length.
  std::vector<int64_t> tokenize(const std::string& text) const;
  // (B, context_length) int64.
  at::Tensor tokenize(const std::vector<std::string>& texts) const;
  // Token strings (byte symbols with "</w>") for ids; for tests and debugging.
  std::string token(int64_t id) const;

  const ClipTokenizerOptions& options() const { return options_; }
  const std::string& path() const { return path_; }

 private:
  std::vector<std::string> bpe(const std::string& word) const;

  std::string path_;
  ClipTokenizerOptions options_;
  std::vector<std::string> byte_symbol_;  // byte value -> its UTF-8 symbol
  std::vector<std::string> vocab_;        // id -> token string
  std::unordered_map<std::string, int64_t> ids_;
  std::unordered_map<std::string, int64_t> merge_rank_;  // "left right" -> rank
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
};

}  // namespace ibllm::data
