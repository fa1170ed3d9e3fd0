// CLIP BPE tokenizer against our Python re-statement of the reference algorithm
// (tests/golden/gen/clip_bpe_reference.py -> fixtures/clip/clip_ids.json): cleaning, the
// pre-tokenised words and the padded ids for both truncation modes on 22 strings (contractions,
// HTML entities, digits, symbols, accents, CJK, emoji, special tokens, long texts), the
// well-known "a dog." encoding, the vocabulary layout, and clear errors for bad files.
#include "tests/support/catch.h"

#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/clip_tokenizer.h"
#include "src/core/error.h"
#include "tests/support/paths.h"

using ibllm::data::ClipTokenizer;

namespace {

nlohmann::json clip_cases() {
  std::ifstream in(ibllm::test::source_dir() / "tests/golden/fixtures/clip/clip_ids.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("clip: ids equal the reference algorithm for both truncation modes", "[clip][golden][skips]") {
  IBLLM_REQUIRE_ASSET(vocab, "clip_bpe_simple_vocab_16e6.txt.gz");
  ClipTokenizer tok(vocab.string());
  ClipTokenizer ref(vocab.string(), {77, true});
  auto j = clip_cases();
  REQUIRE(j["cases"].size() >= 20);
  int long_cases = 0;
  for (const auto& c : j["cases"]) {
    const std::string text = c["text"];
    INFO("text: [" << text << "]");
    CHECK(ibllm::data::clip_clean_text(text) == c["clean"].get<std::string>());
    CHECK(ibllm::data::clip_pretokenize(ibllm::data::clip_clean_text(text)) ==
          c["words"].get<std::vector<std::string>>());
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    const auto ids_ref = c["ids_reference"].get<std::vector<int64_t>>();
    CHECK(tok.tokenize(text) == ids);
    CHECK(ref.tokenize(text) == ids_ref);
    if (ids != ids_ref) ++long_cases;
  }
  CHECK(long_cases >= 2);  // the fixture exercises the truncation difference
}

TEST_CASE("clip: well-known ids, layout, truncation and batching", "[clip][skips]") {
  IBLLM_REQUIRE_ASSET(vocab, "clip_bpe_simple_vocab_16e6.txt.gz");
  ClipTokenizer tok(vocab.string());
  auto ids = tok.tokenize("a dog.");
  REQUIRE(ids.size() == 77);
  CHECK(std::vector<int64_t>(ids.begin(), ids.begin() + 6) ==
        std::vector<int64_t>{49406, 320, 1929, 269, 49407, 0});
  CHECK(tok.token(320) == "a</w>");
  CHECK(tok.token(64) == "a");
  CHECK(tok.token(49406) == "<|startoftext|>");
  CHECK(tok.token(49407) == "<|endoftext|>");
  CHECK_THROWS_AS(tok.token(49408), ibllm::DataError);
  // A long text: the default keeps EOT last, the reference mode loses it.
  std::string lng;
  for (int i = 0; i < 100; ++i) lng += "word ";
  CHECK(tok.tokenize(lng).back() == ClipTokenizer::kEotId);
  ClipTokenizer ref(vocab.string(), {77, true});
  CHECK(ref.tokenize(lng).back() != ClipTokenizer::kEotId);
  // Shorter context and the batched tensor form.
  ClipTokenizer short_ctx(vocab.string(), {8, false});
  at::Tensor t = short_ctx.tokenize(std::vector<std::string>{"a dog.", lng});
  CHECK(t.sizes() == at::IntArrayRef({2, 8}));
  CHECK(t.scalar_type() == at::kLong);
  CHECK(t[0][4].item<int64_t>() == ClipTokenizer::kEotId);
  CHECK(t[1][7].item<int64_t>() == ClipTokenizer::kEotId);
  // The cache does not change results.
  CHECK(tok.tokenize("a dog.") == ids);
}

TEST_CASE("clip: bad vocabulary files are clear errors", "[clip]") {
  auto dir = ibllm::test::scratch_dir("clip");
  CHECK_THROWS_AS(ClipTokenizer((dir / "missing.txt.gz").string()), ibllm::DataError);
  const auto short_file = (dir / "short.txt").string();
  {
    std::ofstream out(short_file);
    out << "#version: 0.2\ni n\nt h\n";
  }
  try {
    ClipTokenizer t(short_file);
    FAIL("expected DataError");
  } catch (const ibllm::DataError& e) {
    CHECK(std::string(e.what()).find("only 2 merges") != std::string::npos);
  }
  CHECK_THROWS_AS(ClipTokenizer(short_file, {1, false}), ibllm::DataError);
}
