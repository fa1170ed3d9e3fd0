// .pth reader against files written by real torch.save (tests/golden/gen/pth_fixtures.py, torch
// 1.13): every tensor must equal, bitwise, the copy the generator stored in
// <name>.expected.safetensors, in both load modes; plus the non-tensor values, storage sharing,
// lazy span reads, and clear refusals of legacy, TorchScript, quantized and sparse files.
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "src/core/error.h"
#include "src/io/convert.h"
#include "src/io/llama_key_map.h"
#include "src/io/pth_reader.h"
#include "src/io/safetensors.h"
#include "src/io/weights_reader.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace fs = std::filesystem;
using ibllm::IoError;
using namespace ibllm::io;
using Kind = PickleValue::Kind;

namespace {

std::string fixture(const std::string& name) {
  return (ibllm::test::source_dir() / "tests/golden/fixtures/io" / name).string();
}

void check_against_expected(const std::string& stem) {
  PthFile f(fixture(stem + ".pt"));
  const auto expected = read_safetensors(fixture(stem + ".expected.safetensors"));
  REQUIRE_FALSE(expected.empty());
  for (auto mode : {PthLoad::kMap, PthLoad::kCopy}) {
    const auto got = f.tensors("", mode);
    for (const auto& [name, e] : expected) {
      INFO(stem << " tensor '" << name << "' mode " << (mode == PthLoad::kMap ? "map" : "copy"));
      REQUIRE(got.count(name) == 1);
      const auto& g = got.at(name);
      CHECK(g.scalar_type() == e.scalar_type());
      CHECK(g.sizes() == e.sizes());
      CHECK(at::equal(g.contiguous(), e));
      const auto single = f.tensor(name, mode);  // the lazy single-tensor path
      CHECK(at::equal(single.contiguous(), e));
    }
  }
}

std::string error_of(const std::string& path) {
  try {
    PthFile f(path);
  } catch (const IoError& e) {
    return std::string(e.what()) + " | hint: " + e.hint();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("pth: tensors from torch.save files match bitwise", "[io][golden]") {
  for (const char* stem :
       {"pth_dtypes", "pth_state_dict", "pth_views", "pth_nested", "pth_training_ckpt",
        "pth_single", "pth_wrapped", "pth_protocol4", "pth_deflated"}) {
    SECTION(stem) { check_against_expected(stem); }
  }
}

TEST_CASE("pth: every storage type maps to its dtype", "[io][golden]") {
  PthFile f(fixture("pth_dtypes.pt"));
  std::map<std::string, at::ScalarType> want{
      {"f32", at::kFloat}, {"f64", at::kDouble}, {"f16", at::kHalf},  {"bf16", at::kBFloat16},
      {"i64", at::kLong},  {"i32", at::kInt},    {"i16", at::kShort}, {"i8", at::kChar},
      {"u8", at::kByte},   {"bool", at::kBool}};
  for (const auto& info : f.tensor_infos()) {
    if (want.count(info.name)) CHECK(info.dtype == want.at(info.name));
  }
  CHECK(f.tensor("scalar").dim() == 0);
  CHECK(f.tensor("empty").sizes() == at::IntArrayRef({0, 4}));
}

TEST_CASE("pth: views keep their storage sharing, offsets and strides", "[io][golden]") {
  PthFile f(fixture("pth_views.pt"));
  for (auto mode : {PthLoad::kMap, PthLoad::kCopy}) {
    const auto t = f.tensors("", mode);
    const auto& base = t.at("base");
    CHECK(t.at("t").strides() == at::IntArrayRef({1, 6}));
    CHECK(t.at("cols").storage_offset() == 1);
    CHECK(t.at("cols").strides() == at::IntArrayRef({6, 2}));
    CHECK(t.at("row2").storage_offset() == 12);
    for (const char* v : {"row2", "t", "cols", "flat_tail"}) {
      INFO(v);
      CHECK(t.at(v).is_alias_of(base));  // one storage, as torch.load gives
    }
    t.at("row2").fill_(-1);  // writes through to the shared storage ...
    CHECK(base[2][3].item<float>() == -1.0f);
  }
  // ... but never to the file: a fresh load sees the original values.
  PthFile again(fixture("pth_views.pt"));
  CHECK(again.tensor("base")[2][3].item<float>() == 15.0f);
  // A single view in copy mode reads only the bytes it spans.
  const auto row = again.tensor("row2", PthLoad::kCopy);
  CHECK(row.storage().nbytes() == 6 * sizeof(float));
  CHECK(at::equal(row, at::arange(12, 18, at::kFloat)));
}

TEST_CASE("pth: python values, containers, parameters and numpy scalars", "[io][golden]") {
  PthFile f(fixture("pth_nested.pt"));
  const auto& r = f.root();
  REQUIRE(r.kind == Kind::kDict);
  CHECK(f.at_path("str").str == "h\xc3\xa9llo \xe2\x9c\x93");
  CHECK(f.at_path("int_small").i == 7);
  CHECK(f.at_path("int_neg").i == -300);
  CHECK(f.at_path("int_big").i == (int64_t{1} << 40) + 3);
  CHECK(f.at_path("int_i64min").i == INT64_MIN);
  CHECK(f.at_path("float").f == 0.125);
  CHECK(f.at_path("true").kind == Kind::kBool);
  CHECK(f.at_path("true").b);
  CHECK_FALSE(f.at_path("false").b);
  CHECK(f.at_path("none").kind == Kind::kNone);
  CHECK(f.at_path("list").items.size() == 4);
  CHECK(f.at_path("list/1").str == "two");
  CHECK(f.at_path("list/3/1").kind == Kind::kTuple);
  CHECK(f.at_path("list/3/1/1").i == 6);
  CHECK(f.at_path("tuple/1").str == "x");
  CHECK(f.at_path("empty_list").kind == Kind::kList);
  CHECK(f.at_path("empty_tuple").kind == Kind::kTuple);
  CHECK(f.at_path("int_keys/2").str == "two");
  CHECK(f.at_path("np_f64").kind == Kind::kFloat);
  CHECK(f.at_path("np_f64").f == 0.75);
  CHECK(f.at_path("np_f32").f == -1.5);
  CHECK(f.at_path("np_i64").kind == Kind::kInt);
  CHECK(f.at_path("np_i64").i == -42);
  CHECK(f.at_path("np_bool").kind == Kind::kBool);
  CHECK(f.at_path("bytes").kind == Kind::kBytes);
  CHECK(f.at_path("bytes").str == std::string("\x00\x01\xff", 3));
  const auto& p = f.at_path("param");
  REQUIRE(p.kind == Kind::kTensor);
  CHECK(p.tensor->is_parameter);
  CHECK(p.tensor->requires_grad);
  CHECK(f.at_path("list").repr() == "[1, 'two', 3.0, [4, (5, 6)]]");
  CHECK_THROWS_AS(f.at_path("nope"), IoError);
  CHECK_THROWS_AS(f.tensor("str"), IoError);
}

TEST_CASE("pth: a training checkpoint with optimizer state and argparse.Namespace",
          "[io][golden]") {
  PthFile f(fixture("pth_training_ckpt.pt"));
  CHECK(f.at_path("epoch").i == 3);
  const auto& args = f.at_path("args");
  CHECK(args.kind == Kind::kObject);
  CHECK(args.str == "argparse.Namespace");
  CHECK(f.at_path("args/batch_size").i == 4);
  CHECK(f.at_path("args/llama_type").str == "7B");
  CHECK(f.at_path("args/phases/0").str == "pretrain");
  CHECK(f.at_path("optimizer/param_groups/0/lr").f == 1e-3);
  REQUIRE(f.warnings().size() == 1);
  CHECK_THAT(f.warnings()[0], Catch::Matchers::Contains("argparse.Namespace"));
  // The model's state dict on its own, relative names.
  const auto sd = f.tensors("model");
  CHECK(sd.size() == 12);
  CHECK(sd.at("bn.num_batches_tracked").scalar_type() == at::kLong);
  const auto values = f.value_infos();
  bool saw_lr = false;
  for (const auto& v : values) saw_lr |= v.name == "args/lr" && v.repr == "0.001";
  CHECK(saw_lr);
}

TEST_CASE("pth: state_dict keeps OrderedDict order and _metadata", "[io][golden]") {
  PthFile f(fixture("pth_state_dict.pt"));
  CHECK(f.root().str == "collections.OrderedDict");
  const auto infos = f.tensor_infos();
  REQUIRE(infos.size() == 12);
  CHECK(infos.front().name == "scale");  // registration order, as PyTorch wrote it
  CHECK(infos[1].name == "embed.weight");
  const PickleValue* md = f.root().get("_metadata");
  REQUIRE(md != nullptr);
  CHECK(md->kind == Kind::kDict);
  REQUIRE(md->get("bn") != nullptr);
  CHECK(md->get("bn")->get("version")->i == 2);  // BatchNorm's state-dict version
}

TEST_CASE("pth: single-tensor point clouds from the shared assets", "[io][golden][skips]") {
  for (const char* name :
       {"example_airplane.pt", "example_car.pt", "example_door.pt", "example_toilet.pt"}) {
    IBLLM_REQUIRE_ASSET(path, name);
    INFO(name);
    const auto t = read_pth(path.string());
    REQUIRE(t.size() == 1);
    const auto& pc = t.begin()->second;
    CHECK(t.begin()->first.empty());
    CHECK(pc.scalar_type() == at::kFloat);
    CHECK(pc.sizes() == at::IntArrayRef({8192, 3}));
    CHECK(pc.norm(2, 1).max().item<float>() == Approx(1.0f).epsilon(1e-5));
    CHECK(pc.mean(0).abs().max().item<float>() < 1e-5f);
  }
}

TEST_CASE("pth: unsupported files fail naming the construct", "[io][golden]") {
  CHECK_THAT(error_of(fixture("pth_legacy.pt")),
             Catch::Matchers::Contains("pth_legacy.pt") &&
                 Catch::Matchers::Contains("legacy (pre-zip)") &&
                 Catch::Matchers::Contains("re-save"));
  CHECK_THAT(error_of(fixture("pth_torchscript.pt")), Catch::Matchers::Contains("TorchScript"));
  CHECK_THAT(
      error_of(fixture("pth_quantized.pt")),
      Catch::Matchers::Contains("torch.QInt8Storage") && Catch::Matchers::Contains("quantized"));
  CHECK_THAT(error_of(fixture("pth_sparse.pt")),
             Catch::Matchers::Contains("torch._utils._rebuild_sparse_tensor"));
  const auto dir = ibllm::test::scratch_dir("io_pth_bad");
  std::ofstream(dir / "text.pth") << "hello, not a checkpoint";
  CHECK_THAT(error_of((dir / "text.pth").string()), Catch::Matchers::Contains("not a PyTorch zip"));
  // A download cut in half: the zip directory at the end is gone.
  std::ifstream in(fixture("pth_state_dict.pt"), std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::ofstream(dir / "cut.pth", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK_THAT(error_of((dir / "cut.pth").string()),
             Catch::Matchers::Contains("cut.pth") && Catch::Matchers::Contains("zip"));
  CHECK_THAT(error_of((dir / "missing.pth").string()), Catch::Matchers::Contains("cannot open"));
}

TEST_CASE("pth: Meta model-parallel shards merge into the full checkpoint", "[io][golden]") {
  const std::string dir = fixture("meta_shards");
  const auto want = read_safetensors(fixture("meta_shards.expected.safetensors"));
  CHECK(detect_weights_format(dir) == WeightsFormat::kPthMetaShards);
  WeightsReader r(dir);
  REQUIRE(r.entries().size() == want.size());
  for (const auto& e : r.entries()) {
    INFO(e.name);
    CHECK(at::IntArrayRef(e.shape) == want.at(e.name).sizes());  // known before reading data
  }
  const auto got = r.tensors();
  for (const auto& [k, v] : want) {
    INFO(k);
    CHECK(at::equal(got.at(k), v));
    CHECK(at::equal(r.tensor(k, /*copy=*/true), v));
  }
  // Streaming conversion straight to HF names, heads from the shards' params.json.
  const auto out = ibllm::test::scratch_dir("io_meta_shards") / "hf.safetensors";
  ConvertOptions o;
  o.map = KeyMap::kMetaToHf;
  convert_weights(dir, out.string(), o);
  const auto hf = read_safetensors(out.string());
  const auto expect_hf = meta_to_hf_llama(want, {2, 0, ""});
  REQUIRE(hf.size() == expect_hf.size());
  for (const auto& [k, v] : expect_hf) CHECK(at::equal(hf.at(k), v));
}

TEST_CASE("pth: Hugging Face pytorch_model.bin shards with an index", "[io][golden]") {
  const std::string dir = fixture("hf_bin_shards");
  const auto want = read_safetensors(fixture("pth_state_dict.expected.safetensors"));
  for (const auto& source : {dir, dir + "/pytorch_model.bin.index.json"}) {
    INFO(source);
    CHECK(detect_weights_format(source) == WeightsFormat::kPthSharded);
    const auto got = read_weights(source);
    REQUIRE(got.size() == want.size());
    for (const auto& [k, v] : want) CHECK(at::equal(got.at(k), v));
  }
  WeightsReader r(dir);
  CHECK(at::equal(r.tensor("bn.running_mean", /*copy=*/true), want.at("bn.running_mean")));
}
