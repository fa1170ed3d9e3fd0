// The SentencePiece plugin loads in a process that also runs LibTorch (the symbol clash it exists
// to avoid would crash at start-up) and reproduces spm_encode's ids for the LLaMA tokenizer.
#include "tests/support/catch.h"

#include <ATen/ATen.h>

#include "data/sentencepiece_library.h"
#include "src/core/error.h"
#include "tests/support/paths.h"

TEST_CASE("sentencepiece plugin: LLaMA tokenizer ids equal spm_encode's", "[tokenizer][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  auto t = at::ones({3});  // LibTorch and SentencePiece live in the same process
  CHECK(t.sum().item<float>() == 3.0f);
  ibllm::data::SentencePieceModel sp(model.string());
  CHECK(sp.vocab_size() == 32000);
  CHECK(sp.bos_id() == 1);
  CHECK(sp.eos_id() == 2);
  CHECK(sp.unk_id() == 0);
  CHECK(sp.pad_id() == -1);
  // Expected ids: `echo "Hello world, this is a test." | spm_encode --model=... --output_format=id`
  std::vector<int> expected{15043, 3186, 29892, 445, 338, 263, 1243, 29889};
  CHECK(sp.encode("Hello world, this is a test.") == expected);
  CHECK(sp.decode(expected) == "Hello world, this is a test.");
  CHECK(sp.id_to_piece(15043) == "\xe2\x96\x81Hello");
  CHECK_THROWS_AS(sp.decode({32000}), ibllm::DataError);
}

TEST_CASE("sentencepiece plugin: missing or invalid model files are clear errors", "[tokenizer]") {
  CHECK_THROWS_WITH(ibllm::data::SentencePieceModel("/nonexistent/tokenizer.model"),
                    Catch::Matchers::Contains("/nonexistent/tokenizer.model") &&
                        Catch::Matchers::Contains("does not exist"));
  auto bad = ibllm::test::scratch_dir("spm") / "bad.model";
  { std::FILE* f = std::fopen(bad.c_str(), "w"); std::fputs("not a model", f); std::fclose(f); }
  CHECK_THROWS_AS(ibllm::data::SentencePieceModel(bad.string()), ibllm::DataError);
}
