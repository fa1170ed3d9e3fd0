// Fuzz harnesses for the tokenizer inputs. sentencepiece: the bytes of a tokenizer.model, loaded
// through the plugin (the protobuf itself is parsed by libsentencepiece, not by us: what is fuzzed
// is that every answer of the plugin reaches the caller as a DataError, never a crash), then a
// round of encode/decode/piece lookups. clip_vocab: a merges file (gzip or text) through
// ClipTokenizer. clip_text: any text through cleaning, pre-tokenisation and BPE with the real
// vocabulary (loaded once); every id must be in the vocabulary and the padded sequence well formed.
#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <string>

#include "data/clip_tokenizer.h"
#include "data/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {

int sentencepiece_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    data::LlamaTokenizer tok(write_input("tokenizer.model", data, size));
    const auto ids = tok.encode("Hello world: <image> 123 ünïcödé \t\n 'quoted'", true, true);
    for (int64_t id : ids) require(id >= 0 && id < tok.vocab_size(), "encode gave an id outside the vocabulary");
    tok.decode(ids);
    for (int64_t id = 0; id < std::min<int64_t>(tok.vocab_size(), 64); ++id) tok.piece(id);
  });
}

int clip_vocab_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    data::ClipTokenizer tok(write_input("bpe_vocab.txt.gz", data, size));
    tok.tokenize("a photo of a dog");
  });
}

int clip_text_one_input(const uint8_t* data, size_t size) {
  static const std::unique_ptr<data::ClipTokenizer> tok = [] {
    const std::string vocab = shared_asset(clip_vocab_asset_name());
    if (vocab.empty())
      throw std::runtime_error(std::string("clip_text needs ../shared/assets/") + clip_vocab_asset_name() +
                               " (or IBLLM_SHARED_DIR)");
    return std::make_unique<data::ClipTokenizer>(vocab);
  }();
  return expect_ibllm_errors([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    data::clip_pretokenize(text);
    for (int64_t id : tok->encode(text))
      require(id >= 0 && id < data::ClipTokenizer::kVocabSize, "BPE id outside the vocabulary");
    const auto seq = tok->tokenize(text);
    require(static_cast<int64_t>(seq.size()) == tok->options().context_length, "wrong context length");
    require(seq.front() == data::ClipTokenizer::kSotId, "no SOT first");
    bool eot = false;
    for (int64_t id : seq) eot = eot || id == data::ClipTokenizer::kEotId;
    require(eot, "EOT lost by truncation");
  });
}

}  // namespace ibllm::fuzz
