// Dataset parsing: TSV quoting/columns/caption lists, LLaVA/Alpaca/JSONL rows, weights, feature
// caches, and bad input (file:line errors, skip-and-count, empty/oversized texts); DataConfig
// parsing.
#include <ATen/ATen.h>

#include <fstream>
#include <functional>
#include <set>
#include <string>

#include "data/dataset.h"
#include "data/feature_cache.h"
#include "data/json_records.h"
#include "data/prompt_template.h"
#include "data/sample_builder.h"
#include "data/tsv_reader.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"  // last: glog (via ATen) also defines CHECK
#include "tests/support/paths.h"

using namespace ibllm::data;
using ibllm::DataError;

namespace {

std::string write(const std::filesystem::path& dir, const std::string& name,
                  const std::string& text) {
  const auto p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

DataConfig one_source(SourceKind kind, const std::string& path) {
  DataConfig c;
  c.sources.push_back(SourceConfig{kind, path, "", 1.0, ""});
  return c;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ibllm::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("TSV: header in any order, quoted fields with tabs/newlines/quotes, CRLF", "[data]") {
  const std::string text =
      "caption\textra\turl\r\n"
      "plain caption\tx\ta.png\r\n"
      "\"tab\there and \"\"quotes\"\"\"\ty\tb.png\n"
      "\"two\nlines\"\tz\tc.png\n"
      "\n"
      "last\tw\td.png";
  TsvTable t = parse_tsv(text, "mem.tsv");
  REQUIRE(t.header == std::vector<std::string>{"caption", "extra", "url"});
  REQUIRE(t.rows.size() == 4);
  CHECK(t.rows[0].fields[0] == "plain caption");
  CHECK(t.rows[0].fields[2] == "a.png");
  CHECK(t.rows[1].fields[0] == "tab\there and \"quotes\"");
  CHECK(t.rows[2].fields[0] == "two\nlines");
  CHECK(t.rows[2].line == 4);
  CHECK(t.rows[3].line == 7);  // line 6 is blank
  CHECK(t.rows[3].fields[2] == "d.png");
  for (const auto& r : t.rows) CHECK(r.error.empty());
}

TEST_CASE("TSV: malformed quoting is reported with its line", "[data]") {
  TsvTable t = parse_tsv("url\tcaption\na.png\t\"ok\"\nb.png\t\"bad\"x\nc.png\tfine\n", "m.tsv");
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[0].error.empty());
  CHECK(t.rows[1].line == 3);
  CHECK(t.rows[1].error.find("closing quote") != std::string::npos);
  CHECK(t.rows[2].fields[1] == "fine");
  TsvTable u = parse_tsv("url\tcaption\na.png\t\"never closed\n", "m.tsv");
  REQUIRE(u.rows.size() == 1);
  CHECK(u.rows[0].line == 2);
  CHECK(u.rows[0].error.find("unterminated") != std::string::npos);
  CHECK_THROWS_AS(parse_tsv("", "empty.tsv"), DataError);
}

TEST_CASE("caption TSV dataset: columns, JSON caption lists, relative image root", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_tsv");
  const auto path = write(dir, "caps.tsv",
                          "caption\turl\taudio\n"
                          "A cat.\timgs/cat.png\t\n"
                          "[\"one\", \"two\", \"\"]\timgs/dog.png\tsnd/dog.wav\n"
                          "[not json\t/abs/x.png\t\n");
  DataConfig c = one_source(SourceKind::kCaptionTsv, path);
  Dataset d(c);
  REQUIRE(d.size() == 3);
  const Record& r0 = d.record(0);
  CHECK(r0.image == (dir / "imgs/cat.png").string());  // relative to the file's directory
  CHECK(r0.image_key == "imgs/cat.png");
  REQUIRE(r0.turns.size() == 1);
  CHECK(r0.turns[0].instruction == kCaptionInstruction);
  CHECK(r0.turns[0].answers == std::vector<std::string>{"A cat."});
  CHECK(d.record(1).turns[0].answers == std::vector<std::string>{"one", "two"});
  CHECK(d.record(1).modalities.at("audio") == (dir / "snd/dog.wav").string());
  CHECK(d.record(2).turns[0].answers == std::vector<std::string>{"[not json"});  // literal caption
  CHECK(d.record(2).image == "/abs/x.png");
  CHECK(d.where(d.record(1)) == path + ":3");

  c.sources[0].image_root = "/data/root";
  Dataset d2(c);
  CHECK(d2.record(0).image == "/data/root/imgs/cat.png");
}

TEST_CASE("caption TSV: missing column, bad rows, empty captions, skip mode", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_tsv_bad");
  auto nocol = write(dir, "nocol.tsv", "image_path\ttext\na.png\tx\n");
  auto msg = error_of([&] { Dataset d(one_source(SourceKind::kCaptionTsv, nocol)); });
  CHECK(msg.find("nocol.tsv:1") != std::string::npos);
  CHECK(msg.find("caption") != std::string::npos);
  CHECK(msg.find("image_path, text") != std::string::npos);

  auto bad =
      write(dir, "bad.tsv",
            "url\tcaption\na.png\tgood\nb.png\tone\textra field\nc.png\t\nhttp://x/y.jpg\tweb\n"
            "d.png\tfine\n");
  msg = error_of([&] { Dataset d(one_source(SourceKind::kCaptionTsv, bad)); });
  CHECK(msg.find("bad.tsv:3") != std::string::npos);
  CHECK(msg.find("3 fields") != std::string::npos);

  DataConfig c = one_source(SourceKind::kCaptionTsv, bad);
  c.on_malformed = MalformedPolicy::kSkip;
  Dataset d(c);
  CHECK(d.size() == 2);                 // a.png, d.png
  CHECK(d.stats().malformed == 2);      // field count, remote URL
  CHECK(d.stats().empty_answers == 1);  // c.png
  REQUIRE(d.stats().first_problems.size() == 3);

  CHECK_THROWS_AS(Dataset(one_source(SourceKind::kCaptionTsv, (dir / "missing.tsv").string())),
                  DataError);
  auto empty = write(dir, "empty.tsv", "url\tcaption\n");
  msg = error_of([&] { Dataset d3(one_source(SourceKind::kCaptionTsv, empty)); });
  CHECK(msg.find("empty") != std::string::npos);
}

TEST_CASE("oversized texts are clipped at a UTF-8 boundary and counted", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_big");
  std::string big;
  for (int i = 0; i < 200000; ++i) big += "\xC3\xA9";  // "é" x 200k = 400 kB
  auto p = write(dir, "big.tsv", "url\tcaption\na.png\t" + big + "\n");
  DataConfig c = one_source(SourceKind::kCaptionTsv, p);
  c.max_text_bytes = 1001;
  Dataset d(c);
  CHECK(d.stats().clipped_texts == 1);
  CHECK(d.record(0).turns[0].answers[0].size() == 1000);  // cut before a continuation byte
}

TEST_CASE("LLaVA JSON: reference first turn, multi-turn, text-only rows, errors with line",
          "[data]") {
  auto dir = ibllm::test::scratch_dir("data_llava");
  const std::string text = R"([
  {"id": "a", "image": "x.jpg", "conversations": [
    {"from": "human", "value": "<image>\nQ1"}, {"from": "gpt", "value": "A1"},
    {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]},
  {"id": "b", "conversations": [{"from": "human", "value": "text only"}, {"from": "gpt", "value": "yes"}]},
  {"id": "c", "conversations": [{"from": "gpt", "value": "wrong order"}, {"from": "human", "value": "x"}]}
])";
  auto p = write(dir, "llava.json", text);
  auto msg = error_of([&] { Dataset d(one_source(SourceKind::kLlava, p)); });
  CHECK(msg.find("llava.json:6") != std::string::npos);
  CHECK(msg.find("human/gpt") != std::string::npos);

  DataConfig c = one_source(SourceKind::kLlava, p);
  c.on_malformed = MalformedPolicy::kSkip;
  Dataset first(c);
  REQUIRE(first.size() == 2);
  REQUIRE(first.record(0).turns.size() == 1);
  CHECK(first.record(0).turns[0].instruction == "<image>\nQ1");  // placeholder kept verbatim
  CHECK(first.record(0).line == 2);
  CHECK(first.record(1).image.empty());
  CHECK(first.stats().malformed == 1);

  c.llava_turns = LlavaTurns::kAll;
  Dataset all(c);
  REQUIRE(all.record(0).turns.size() == 2);
  CHECK(all.record(0).turns[1].instruction == "Q2");
  CHECK(all.record(0).turns[1].answers[0] == "A2");

  auto broken =
      write(dir, "broken.json",
            "[\n {\"instruction\": \"a\", \"output\": \"b\"},\n {\"instruction\": \"c\",, }\n]");
  msg = error_of([&] { Dataset d(one_source(SourceKind::kAlpaca, broken)); });
  CHECK(msg.find("broken.json:3") != std::string::npos);
  auto notarray = write(dir, "obj.json", "{\"a\": 1}");
  CHECK_THROWS_AS(Dataset(one_source(SourceKind::kAlpaca, notarray)), DataError);
  auto truncated =
      write(dir, "trunc.json", "[{\"instruction\": \"a\", \"output\": \"b\"}, {\"instr");
  CHECK_THROWS_AS(Dataset(one_source(SourceKind::kAlpaca, truncated)), DataError);
}

TEST_CASE("Alpaca JSON and JSON Lines rows", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_alpaca");
  auto a = write(dir, "alpaca.json",
                 R"([{"instruction": "I1", "input": "", "output": "O1"},
                     {"instruction": "I2", "input": "ctx", "output": "O2"},
                     {"instruction": "I3", "input": "", "output": ""}])");
  Dataset d(one_source(SourceKind::kAlpaca, a));
  REQUIRE(d.size() == 2);
  CHECK(d.stats().empty_answers == 1);
  CHECK(d.record(1).turns[0].input == "ctx");
  CHECK(d.record(1).image.empty());

  auto l = write(dir, "mix.jsonl",
                 "{\"instruction\": \"I\", \"output\": \"O\"}\n\n"
                 "{\"image\": \"p.png\", \"caption\": [\"c1\", \"c2\"], \"point\": \"pc.pt\"}\n"
                 "{\"image\": \"q.png\", \"conversations\": [{\"from\": \"human\", \"value\": "
                 "\"Q\"}, {\"from\": \"gpt\", \"value\": \"A\"}]}\n"
                 "{\"what\": 1}\n");
  auto msg = error_of([&] { Dataset e(one_source(SourceKind::kJsonl, l)); });
  CHECK(msg.find("mix.jsonl:5") != std::string::npos);
  DataConfig c = one_source(SourceKind::kJsonl, l);
  c.on_malformed = MalformedPolicy::kSkip;
  Dataset e(c);
  REQUIRE(e.size() == 3);
  CHECK(e.record(1).line == 3);
  CHECK(e.record(1).turns[0].instruction == kCaptionInstruction);
  CHECK(e.record(1).turns[0].answers.size() == 2);
  CHECK(e.record(1).modalities.at("point") == (dir / "pc.pt").string());
  CHECK(e.record(2).turns[0].answers[0] == "A");
}

TEST_CASE("source weights repeat or subsample rows per epoch", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_weights");
  auto a = write(dir, "a.tsv", "url\tcaption\n1.png\ta\n2.png\tb\n3.png\tc\n4.png\td\n");
  auto b = write(dir, "b.tsv", "url\tcaption\n5.png\te\n6.png\tf\n");
  DataConfig c;
  c.sources = {SourceConfig{SourceKind::kCaptionTsv, a, "", 0.5, ""},
               SourceConfig{SourceKind::kCaptionTsv, b, "", 2.5, ""}};
  Dataset d(c, 3);
  REQUIRE(d.size() == 2 + 5);
  int from_b = 0;
  for (int64_t i = 0; i < d.size(); ++i) from_b += d.record(i).source == 1;
  CHECK(from_b == 5);
  Dataset again(c, 3);
  for (int64_t i = 0; i < d.size(); ++i)
    CHECK(&d.record(i) - &d.record(0) == &again.record(i) - &again.record(0));
}

TEST_CASE("feature-cached sources look rows up by image path", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_features");
  auto tsv = write(dir, "caps.tsv", "url\tcaption\na.png\tx\nb.png\ty\n");
  auto emb = at::arange(12, at::kFloat).reshape({3, 4});
  write_feature_cache((dir / "f.safetensors").string(), {"a.png", "b.png", ""}, emb);
  FeatureCache fc((dir / "f.safetensors").string());
  CHECK(fc.dim() == 4);
  CHECK(fc.get("b.png").equal(emb[1]));
  CHECK_THROWS_AS(fc.get("c.png"), DataError);
  // A file in the wrong format: the message names the feature cache, the hint how to write one.
  ibllm::io::write_safetensors((dir / "nopaths.safetensors").string(), {{"embeddings", emb}});
  try {
    FeatureCache bad((dir / "nopaths.safetensors").string());
    FAIL("a feature cache without \"paths\" metadata was accepted");
  } catch (const DataError& e) {
    CHECK(std::string(e.what()).rfind("feature cache ", 0) == 0);
    CHECK(std::string(e.what()).find("no \"paths\" metadata") != std::string::npos);
    CHECK(e.hint().find("write_feature_cache") != std::string::npos);
  }
  DataConfig c = one_source(SourceKind::kCaptionTsv, tsv);
  c.sources[0].features = (dir / "f.safetensors").string();
  Dataset d(c);
  CHECK(d.uses_features());
  CHECK(d.feature_dim() == 4);

  write_feature_cache((dir / "g.safetensors").string(), {"a.png"}, emb.slice(0, 0, 1));
  c.sources[0].features = (dir / "g.safetensors").string();
  auto msg = error_of([&] { Dataset e(c); });
  CHECK(msg.find("caps.tsv:3") != std::string::npos);
  CHECK(msg.find("not in the feature cache") != std::string::npos);
}

TEST_CASE("parse_data_config: kinds, defaults, consistency errors", "[data]") {
  auto doc = ibllm::config::Document::from_string(R"(
data:
  tokenizer: tok.model
  sources:
    - {kind: caption_tsv, path: a.tsv, weight: 2.0}
    - {kind: llava, path: b.json, image_root: imgs}
  mask: reference
  padding: fixed
  last_batch: partial
  num_workers: 3
)");
  DataConfig c = parse_data_config(doc.root().child("data"));
  doc.finish();
  REQUIRE(c.sources.size() == 2);
  CHECK(c.sources[0].kind == SourceKind::kCaptionTsv);
  CHECK(c.sources[0].weight == 2.0);
  CHECK(c.sources[1].kind == SourceKind::kLlava);
  CHECK(c.sources[1].image_root == "imgs");
  CHECK(c.mask == MaskMode::kReference);
  CHECK(c.padding == PaddingMode::kFixed);
  CHECK(c.last_batch == LastBatch::kPartial);
  CHECK(c.num_workers == 3);
  CHECK(c.max_words == 96);

  auto bad = ibllm::config::Document::from_string(R"(
data:
  sources:
    - {kind: parquet, path: a.tsv}
  mask: reference
  llava_turns: all
  ignore_index: 5
)");
  parse_data_config(bad.root().child("data"));
  std::string msg = error_of([&] { bad.finish(); });
  CHECK(msg.find("parquet") != std::string::npos);
  CHECK(msg.find("caption_tsv") != std::string::npos);
  CHECK(msg.find("tokenizer") != std::string::npos);
  CHECK(msg.find("llava_turns") != std::string::npos);
  auto bad2 = ibllm::config::Document::from_string("data:\n  tokenizer: t\n  ignore_index: 0\n");
  parse_data_config(bad2.root().child("data"));
  msg = error_of([&] { bad2.finish(); });
  CHECK(msg.find("sources") != std::string::npos);
  CHECK(msg.find("ignore_index") != std::string::npos);
}

TEST_CASE("Alpaca templates are the reference strings", "[data]") {
  CHECK(format_prompt("Do X") ==
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nDo X\n\n### Response:");
  CHECK(format_prompt("Do X", "ctx") ==
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
        "Do X\n\n### Input:\nctx\n\n### Response:");
  CHECK(format_followup_prompt("Q") == "\n\n### Instruction:\nQ\n\n### Response:");
}

TEST_CASE("strict mode reports the first bad row in file order", "[data]") {
  auto dir = ibllm::test::scratch_dir("data_order");
  auto p = write(dir, "o.tsv", "url\tcaption\na.png\tx\textra\nb.png\t\"bad\"quote\n");
  auto msg = error_of([&] { Dataset d(one_source(SourceKind::kCaptionTsv, p)); });
  CHECK(msg.find("o.tsv:2") != std::string::npos);
  auto j = write(dir, "o.json", "[\n{\"instruction\": 1, \"output\": \"b\"},\n{oops}\n]");
  msg = error_of([&] { Dataset d(one_source(SourceKind::kAlpaca, j)); });
  CHECK(msg.find("o.json:2") != std::string::npos);
  CHECK(msg.find("must be a string") != std::string::npos);
}

TEST_CASE("caption alternatives: chosen per epoch, deterministic, all reachable", "[data]") {
  std::set<size_t> seen;
  for (int64_t epoch = 0; epoch < 40; ++epoch) {
    const size_t k = choose_answer(3, 11, epoch, 5);
    CHECK(k < 3);
    CHECK(k == choose_answer(3, 11, epoch, 5));
    seen.insert(k);
  }
  CHECK(seen.size() == 3);
  CHECK(choose_answer(1, 11, 3, 5) == 0);
  int differs = 0;  // a different seed gives a different sequence
  for (int64_t epoch = 0; epoch < 40; ++epoch)
    differs += choose_answer(3, 11, epoch, 5) != choose_answer(3, 12, epoch, 5);
  CHECK(differs > 0);
}
