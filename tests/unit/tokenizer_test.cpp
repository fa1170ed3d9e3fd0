// LlamaTokenizer against the real LLaMA tokenizer.model: ids equal Debian's spm_encode for plain,
// whitespace, unicode, empty and multi-line texts and the Alpaca templates of spec §3.7
// (fixture from tests/golden/gen/llama_tokenizer_expected.py), BOS/EOS policy, decode equal to
// spm_decode, special ids, and clear errors for missing/invalid models and out-of-range ids.
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/tokenizer.h"
#include "src/core/error.h"
#include "tests/golden/llama_fixture.h"

using ibllm::DataError;
using ibllm::data::LlamaTokenizer;

namespace {

nlohmann::json expected() {
  std::ifstream in(ibllm::test::llama::fixture("tokenizer_expected.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("tokenizer: ids equal spm_encode, including the Alpaca templates", "[tokenizer][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  LlamaTokenizer tok(model.string());
  auto j = expected();
  REQUIRE(j["encode"].size() >= 15);
  int templates = 0;
  for (const auto& c : j["encode"]) {
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    INFO("text: [" << text << "]");
    CHECK(tok.encode(text, false, false) == ids);
    auto with = ids;
    with.insert(with.begin(), 1);
    CHECK(tok.encode(text, true, false) == with);
    with.push_back(2);
    CHECK(tok.encode(text, true, true) == with);
    if (text.find("### Response:") != std::string::npos) ++templates;
  }
  CHECK(templates == 4);
  CHECK(tok.encode("", true, true) == std::vector<int64_t>{1, 2});
}

TEST_CASE("tokenizer: decode equals spm_decode; special ids and vocabulary", "[tokenizer][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  LlamaTokenizer tok(model.string());
  // Named: a range-for over expected()["decode"] would iterate a destroyed temporary (found by ASan).
  const auto j = expected();
  for (const auto& c : j["decode"]) {
    const auto ids = c["ids"].get<std::vector<int64_t>>();
    INFO("ids of [" << c["text"].get<std::string>() << "]");
    CHECK(tok.decode(ids) == c["text"].get<std::string>());
  }
  CHECK(tok.vocab_size() == 32000);
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  CHECK(tok.unk_id() == 0);
  CHECK(tok.pad_id() == -1);
  CHECK(tok.piece(13) == "<0x0A>");
  CHECK(tok.decode({}).empty());
  CHECK_THROWS_AS(tok.decode({1, -1}), DataError);
  CHECK_THROWS_AS(tok.decode({32000}), DataError);
  CHECK_THROWS_AS(tok.piece(-1), DataError);
  LlamaTokenizer moved(std::move(tok));
  CHECK(moved.encode("Hello world", false, false) == std::vector<int64_t>{15043, 3186});
}

TEST_CASE("tokenizer: missing or invalid model files are clear errors", "[tokenizer]") {
  try {
    LlamaTokenizer("/nonexistent/dir/tokenizer.model");
    FAIL("expected DataError");
  } catch (const DataError& e) {
    CHECK(std::string(e.what()).find("/nonexistent/dir/tokenizer.model") != std::string::npos);
  }
  auto dir = ibllm::test::scratch_dir("tokenizer_bad");
  auto bad = (dir / "garbage.model").string();
  std::ofstream(bad) << "this is not a sentencepiece model";
  CHECK_THROWS_AS(LlamaTokenizer(bad), DataError);
}
