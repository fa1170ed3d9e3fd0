// Format detection, inspect (the library half of `ibllm inspect`) and streaming conversion (the
// library half of `ibllm convert`): dtype casts, Meta <-> HF maps with heads from params.json,
// glob selection, progress reporting and the refusals.
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "src/core/error.h"
#include "src/io/convert.h"
#include "src/io/inspect.h"
#include "src/io/llama_key_map.h"
#include "src/io/safetensors.h"
#include "src/io/weights_reader.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;
using ibllm::IoError;
using namespace ibllm::io;

namespace {

std::string fixture(const std::string& name) {
  return (ibllm::test::source_dir() / "tests/golden/fixtures/io" / name).string();
}

std::map<std::string, at::Tensor> tiny_meta_llama() {
  at::manual_seed(5);
  std::map<std::string, at::Tensor> sd{
      {"tok_embeddings.weight", at::randn({10, 8})},
      {"norm.weight", at::randn({8})},
      {"output.weight", at::randn({10, 8})},
      {"rope.freqs", at::randn({2})},
  };
  for (const char* w : {"wq", "wk", "wv", "wo"})
    sd[std::string("layers.0.attention.") + w + ".weight"] = at::randn({8, 8});
  for (const char* w : {"w1", "w3"})
    sd[std::string("layers.0.feed_forward.") + w + ".weight"] = at::randn({12, 8});
  sd["layers.0.feed_forward.w2.weight"] = at::randn({8, 12});
  sd["layers.0.attention_norm.weight"] = at::randn({8});
  sd["layers.0.ffn_norm.weight"] = at::randn({8});
  return sd;
}

}  // namespace

TEST_CASE("weights reader: format detection by content", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_detect");
  write_safetensors((dir / "w.bin").string(), {{"a", at::ones({2})}});  // extension is not trusted
  CHECK(detect_weights_format((dir / "w.bin").string()) == WeightsFormat::kSafetensors);
  CHECK(detect_weights_format(fixture("pth_state_dict.pt")) == WeightsFormat::kPth);
  write_safetensors_sharded((dir / "sh").string(), {{"a", at::ones({2})}, {"b", at::ones({2})}}, 8);
  CHECK(detect_weights_format((dir / "sh").string()) == WeightsFormat::kSafetensorsSharded);
  std::ofstream(dir / "junk.pth") << "junk junk junk";
  CHECK_THROWS_WITH(detect_weights_format((dir / "junk.pth").string()),
                    Catch::Matchers::Contains("unknown weights format"));
  CHECK(read_weights((dir / "sh").string()).size() == 2);
  CHECK(at::equal(WeightsReader((dir / "sh").string()).tensor("b", /*copy=*/true), at::ones({2})));
  const auto wrapped = read_weights(fixture("pth_wrapped.pt"), "model");
  CHECK(wrapped.count("prefix_query.weight") == 1);
  CHECK_THROWS_AS(WeightsReader((dir / "w.bin").string(), "model"), IoError);
  WeightsReader r(fixture("pth_wrapped.pt"), "model");
  CHECK(r.tensor("prefix_query.weight", true).sizes() == at::IntArrayRef({2, 4}));
  CHECK_THROWS_WITH(r.tensor("nope"), Catch::Matchers::Contains("no tensor named 'nope'"));
}

TEST_CASE("inspect: tensors, totals, metadata and non-tensor entries", "[io]") {
  const auto s = inspect_weights(fixture("pth_training_ckpt.pt"));
  CHECK(s.format == "pytorch (torch.save)");
  CHECK(s.tensors.size() == 24);
  uint64_t bytes = 0;
  for (const auto& e : s.tensors) bytes += e.nbytes;
  CHECK(s.total_bytes == bytes);
  CHECK(s.tensors_by_dtype.at("I64") == 1);  // bn.num_batches_tracked
  const auto text = format_weights_summary(s);
  for (const char* want : {"model/embed.weight", "F32", "[5, 4]", "args/llama_type = '7B'",
                           "epoch = 3", "argparse.Namespace", "optimizer/state/0/exp_avg"}) {
    INFO(want);
    CHECK_THAT(text, Catch::Matchers::Contains(want));
  }
  CHECK_THAT(format_weights_summary(s, 2), Catch::Matchers::Contains("... 22 more"));

  const auto dir = ibllm::test::scratch_dir("io_inspect");
  write_safetensors((dir / "m.safetensors").string(), {{"w", at::zeros({3, 2}, at::kBFloat16)}},
                    {{"step", "12"}});
  const auto st = format_weights_summary(inspect_weights((dir / "m.safetensors").string()));
  CHECK_THAT(st, Catch::Matchers::Contains("step = 12") && Catch::Matchers::Contains("BF16") &&
                     Catch::Matchers::Contains("12 bytes"));
  CHECK(human_bytes(2600000000ull) == "2.60 GB");
}

TEST_CASE("convert: .pth -> safetensors with a dtype cast, streaming", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_convert");
  const auto out = (dir / "w.safetensors").string();
  ConvertOptions o;
  o.dtype = at::kBFloat16;
  size_t calls = 0, last_done = 0, last_total = 0;
  o.progress = [&](size_t done, size_t total, uint64_t, uint64_t) {
    ++calls;
    last_done = done;
    last_total = total;
  };
  const auto stats = convert_weights(fixture("pth_dtypes.pt"), out, o);
  CHECK(stats.tensors == 12);
  CHECK(calls == 12);
  CHECK(last_done == last_total);
  SafetensorsFile f(out);
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.entry("f32").dtype == at::kBFloat16);
  CHECK(f.entry("f64").dtype == at::kBFloat16);
  CHECK(f.entry("i64").dtype == at::kLong);  // integers are never cast
  CHECK(f.entry("bool").dtype == at::kBool);
  const auto want = read_safetensors(fixture("pth_dtypes.expected.safetensors"));
  CHECK(at::equal(f.tensor("f32"), want.at("f32").to(at::kBFloat16)));
  CHECK(at::equal(f.tensor("i64"), want.at("i64")));
  CHECK(stats.bytes_written == fs::file_size(out));

  ConvertOptions sel;
  sel.under = "model";
  sel.select = {"llma.*", "prefix_query.*"};
  sel.rename_llma = true;
  convert_weights(fixture("pth_wrapped.pt"), out, sel);
  const auto names = SafetensorsFile(out).names();
  CHECK(names ==
        std::vector<std::string>{"llama.layers.0.attention.wq.bias", "prefix_query.weight"});

  ConvertOptions none;
  none.select = {"nothing.*"};
  CHECK_THROWS_WITH(convert_weights(fixture("pth_dtypes.pt"), out, none),
                    Catch::Matchers::Contains("no tensors selected"));
  CHECK_THROWS_WITH(convert_weights(fixture("pth_single.pt"), out, {}),
                    Catch::Matchers::Contains("without a name"));
}

TEST_CASE("convert: Meta <-> HF maps, heads read from params.json", "[io]") {
  const auto dir = ibllm::test::scratch_dir("io_convert_map");
  const auto meta = tiny_meta_llama();
  write_safetensors((dir / "meta.safetensors").string(), meta);
  std::ofstream(dir / "params.json")
      << R"({"dim": 8, "n_heads": 2, "n_layers": 1, "norm_eps": 1e-6})";
  ConvertOptions o;
  o.map = parse_key_map("meta-to-hf");
  const auto stats =
      convert_weights((dir / "meta.safetensors").string(), (dir / "hf.safetensors").string(), o);
  CHECK(stats.dropped == 1);  // rope.freqs
  const auto hf = read_safetensors((dir / "hf.safetensors").string());
  const auto want = meta_to_hf_llama(meta, {2, 0, ""});
  REQUIRE(hf.size() == want.size());
  for (const auto& [k, v] : want) CHECK(at::equal(hf.at(k), v));

  fs::create_directories(dir / "hf");
  fs::rename(dir / "hf.safetensors", dir / "hf" / "model.safetensors");
  std::ofstream(dir / "hf" / "config.json") << R"({"num_attention_heads": 2, "hidden_size": 8})";
  ConvertOptions back;
  back.map = KeyMap::kHfToMeta;
  convert_weights((dir / "hf").string(), (dir / "back.safetensors").string(), back);
  const auto again = read_safetensors((dir / "back.safetensors").string());
  for (const auto& [k, v] : meta) {
    if (k == "rope.freqs") continue;
    CHECK(at::equal(again.at(k), v));
  }
  CHECK(parse_dtype_name("bf16") == at::kBFloat16);
  CHECK_THROWS_AS(parse_dtype_name("int3"), IoError);
  CHECK_THROWS_AS(parse_key_map("sideways"), IoError);
}
