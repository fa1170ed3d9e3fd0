// Exact token ids and loss masks of every template/mode against ids produced independently by
// Debian's spm_encode (tests/golden/gen/data_template_ids.py): reference mode (pad 0, ignore 0,
// mask from the separately tokenised prompt, including the shifted-boundary case) and exact mode
// (separate prompt/answer tokenisation, -100 ignore), single- and multi-turn, with truncation.
#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/collate.h"
#include "data/prompt_template.h"
#include "data/sample_builder.h"
#include "data/tokenizer.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK
#include "tests/support/paths.h"

using namespace ibllm::data;

namespace {

std::vector<int64_t> row(const at::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

void check_mode(const nlohmann::json& c, const nlohmann::json& expected, const Record& rec,
                const LlamaTokenizer& tok, MaskMode mode) {
  SampleOptions o;
  o.mask = mode;
  o.max_words = c["max_words"].get<int64_t>();
  o.ignore_index = -100;
  TokenizedSample s = build_sample(rec, tok, o, 0, 0, 0);
  CHECK(s.truncated == expected["truncated"].get<bool>());
  Sample smp;
  smp.text = s;
  CollateOptions co;
  co.padding = PaddingMode::kFixed;
  co.max_words = o.max_words;
  co.token_pad = o.token_pad();
  co.ignore_index = o.label_ignore();
  co.image_size = 2;
  Batch b = collate({smp}, co);
  CHECK(row(b.tokens[0]) == expected["tokens"].get<std::vector<int64_t>>());
  CHECK(row(b.labels[0]) == expected["labels"].get<std::vector<int64_t>>());
  int64_t valid = 0;
  auto labels = expected["labels"].get<std::vector<int64_t>>();
  for (size_t i = 1; i < labels.size(); ++i) valid += labels[i] != co.ignore_index;
  CHECK(b.valid_label_tokens == valid);
}

}  // namespace

TEST_CASE("sample construction matches spm_encode ids for every template and mode",
          "[data][golden][skips]") {
  IBLLM_REQUIRE_ASSET(model, "llama_tokenizer.model");
  LlamaTokenizer tok(model.string());
  std::ifstream f(ibllm::test::source_dir() / "tests/golden/fixtures/data/template_ids.json");
  REQUIRE(f.good());
  nlohmann::json fx = nlohmann::json::parse(f);
  REQUIRE(fx["cases"].size() == 8);
  for (const auto& c : fx["cases"]) {
    INFO("case " << c["name"].get<std::string>());
    Record rec;
    for (const auto& t : c["turns"])
      rec.turns.push_back(Turn{t["instruction"].get<std::string>(),
                               t["input"].get<std::string>(),
                               {t["answer"].get<std::string>()}});
    if (c.contains("reference")) check_mode(c, c["reference"], rec, tok, MaskMode::kReference);
    check_mode(c, c["exact"], rec, tok, MaskMode::kExact);
  }
  // The fixture includes a case where the reference's mask boundary shifts (spec §9.15).
  bool shifted = false;
  for (const auto& c : fx["cases"])
    if (c.contains("reference") && c["name"] == "boundary_merge")
      shifted = !c["reference"]["prefix_aligned"].get<bool>();
  CHECK(shifted);
}
