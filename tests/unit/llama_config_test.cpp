// LlamaConfig: presets (7B/13B FFN widths from the SwiGLU rule), Meta params.json and HF
// config.json readers, YAML parsing with preset/params_file/overrides, and every consistency error.
#include <fstream>

#include "models/llama/config.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/golden/llama_fixture.h"

using namespace ibllm;
using namespace ibllm::models;

TEST_CASE("llama config: presets and derived sizes", "[llama]") {
  auto c7 = llama_preset("7B");
  CHECK(c7.dim == 4096);
  CHECK(c7.n_layers == 32);
  CHECK(c7.head_dim() == 128);
  CHECK(c7.kv_heads() == 32);
  CHECK(c7.ffn_hidden() == 11008);
  CHECK(c7.norm_eps == 1e-6);
  CHECK(c7.max_seq_len == 512);
  CHECK(c7.lora_scale() == 1.0);
  auto c13 = llama_preset("13B");
  CHECK(c13.ffn_hidden() == 13824);
  CHECK(c13.head_dim() == 128);
  // LLaMA-2-70B rule: multiplier 1.3, multiple_of 4096 -> 28672
  LlamaConfig c70 = c7;
  c70.dim = 8192;
  c70.multiple_of = 4096;
  c70.ffn_dim_multiplier = 1.3;
  CHECK(c70.ffn_hidden() == 28672);
  auto t = llama_preset("tiny");
  CHECK(t.ffn_hidden() == 96);
  CHECK(t.kv_heads() == 2);
  t.lora_alpha = 8.0;
  CHECK(t.lora_scale() == 2.0);  // alpha / rank 4
  CHECK_THROWS_AS(llama_preset("70B"), ConfigError);
}

TEST_CASE("llama config: Meta params.json and HF config.json give the same model", "[llama]") {
  namespace tl = ibllm::test::llama;
  auto meta = read_meta_params(tl::fixture("tiny_params.json"));
  auto hf = read_hf_config(tl::fixture("tiny_config.json"));
  auto tiny = llama_preset("tiny");
  for (const auto& c : {meta, hf, read_llama_params_file(tl::fixture("tiny_config.json"))}) {
    CHECK(c.dim == tiny.dim);
    CHECK(c.n_layers == tiny.n_layers);
    CHECK(c.n_heads == tiny.n_heads);
    CHECK(c.kv_heads() == tiny.kv_heads());
    CHECK(c.vocab_size == tiny.vocab_size);
    CHECK(c.ffn_hidden() == tiny.ffn_hidden());
    CHECK(c.norm_eps == tiny.norm_eps);
    CHECK(c.rope_theta == tiny.rope_theta);
  }
  CHECK(hf.max_seq_len == 32);
  CHECK(meta.max_seq_len == 512);  // params.json has no length: the base value is kept
}

TEST_CASE("llama config: params readers reject bad files clearly", "[llama]") {
  auto dir = ibllm::test::scratch_dir("llama_params");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  CHECK_THROWS_AS(read_meta_params((dir / "missing.json").string()), IoError);
  CHECK_THROWS_AS(read_meta_params(write("bad.json", "{\"dim\": 32,")), IoError);
  CHECK_THROWS_AS(read_meta_params(write("type.json", "{\"dim\": \"big\"}")), IoError);
  CHECK_THROWS_AS(read_meta_params(write("heads.json", "{\"dim\": 30, \"n_heads\": 4}")),
                  ConfigError);
  CHECK_THROWS_AS(
      read_hf_config(write("gpt.json", "{\"model_type\": \"gpt2\", \"hidden_size\": 8}")), IoError);
  // Meta's vocab_size -1 means "from the tokenizer": keep the base value
  auto c = read_meta_params(write("v.json", "{\"dim\": 64, \"n_heads\": 4, \"vocab_size\": -1}"));
  CHECK(c.vocab_size == 32000);
  CHECK(c.n_layers == 32);
}

TEST_CASE("llama config: YAML preset, params_file and explicit keys", "[llama]") {
  namespace tl = ibllm::test::llama;
  auto doc = config::Document::from_string(
      "preset: tiny\nw_bias: true\nw_lora: true\nlora_rank: 8\nlora_alpha: 16\nmax_seq_len: 64\n"
      "attention: math\n",
      "llama.yaml");
  auto c = parse_llama_config(doc.root());
  REQUIRE_NOTHROW(doc.finish());
  CHECK(c.dim == 32);
  CHECK(c.w_bias);
  CHECK(c.w_lora);
  CHECK(c.lora_rank == 8);
  CHECK(c.lora_scale() == 2.0);
  CHECK(c.max_seq_len == 64);

  auto doc2 = config::Document::from_string(
      "params_file: " + tl::fixture("tiny_config.json") + "\nmax_seq_len: 16\n", "llama.yaml");
  auto c2 = parse_llama_config(doc2.root());
  REQUIRE_NOTHROW(doc2.finish());
  CHECK(c2.dim == 32);
  CHECK(c2.ffn_hidden() == 96);
  CHECK(c2.max_seq_len == 16);  // explicit key wins over the file
}

TEST_CASE("llama config: YAML errors are collected with their keys", "[llama]") {
  auto doc = config::Document::from_string(
      "dim: 30\nn_heads: 4\nn_kv_heads: 3\nattention: flash\nlora_rank: 0\npreset: huge\n",
      "bad.yaml");
  parse_llama_config(doc.root());
  try {
    doc.finish();
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    std::string m = e.what();
    INFO(m);
    CHECK(m.find("n_heads") != std::string::npos);
    CHECK(m.find("n_kv_heads") != std::string::npos);
    CHECK(m.find("attention") != std::string::npos);
    CHECK(m.find("lora_rank") != std::string::npos);
    CHECK(m.find("huge") != std::string::npos);
  }
}

TEST_CASE("llama config: generation options", "[llama]") {
  auto doc = config::Document::from_string("temperature: 0\ntop_p: 0.9\nmax_new_tokens: 64\nseed: 7\n",
                                           "gen.yaml");
  auto g = parse_generation_config(doc.root());
  REQUIRE_NOTHROW(doc.finish());
  CHECK(g.temperature == 0.0);
  CHECK(g.top_p == 0.9);
  CHECK(g.max_new_tokens == 64);
  CHECK(g.seed == 7);
  GenerationConfig defaults;
  CHECK(defaults.temperature == 0.1);
  CHECK(defaults.top_p == 0.75);
  CHECK(defaults.max_new_tokens == 256);
  auto bad = config::Document::from_string("top_p: 0\nmax_new_tokens: 0\ntemperature: -1\n", "g.yaml");
  parse_generation_config(bad.root());
  try {
    bad.finish();
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("g.yaml:1:8: top_p: value 0 is out of range (0, 1]") != std::string::npos);
    CHECK(m.find("max_new_tokens: value 0 is out of range [1, inf)") != std::string::npos);
    CHECK(m.find("temperature: value -1 is out of range [0, inf)") != std::string::npos);
  }
  // The reference's name for the length is an error that names the new key, reported once.
  auto old = config::Document::from_string("max_gen_len: 64\n", "old.yaml");
  parse_generation_config(old.root());
  try {
    old.finish();
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("max_gen_len: renamed to max_new_tokens") != std::string::npos);
    CHECK(m.find("unknown") == std::string::npos);
  }
}

TEST_CASE("llama config: one range check for every way sampling is given", "[llama]") {
  GenerationConfig g;
  CHECK(sampling_problems(g).empty());
  g.top_p = 1.5;
  g.max_new_tokens = 0;
  auto p = sampling_problems(g);
  REQUIRE(p.size() == 2);
  CHECK(p[0].key == "max_new_tokens");
  CHECK(p[0].message == "value 0 is out of range [1, inf)");
  CHECK(p[1].key == "top_p");
  CHECK(p[1].message == "value 1.5 is out of range (0, 1]");
  CHECK(sampling_flag("max_new_tokens") == "--max-new-tokens");
}
