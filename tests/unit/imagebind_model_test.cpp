// ImageBind model structure: state-dict keys and shapes against the committed lists (Huge preset
// from the spec tables, built on the meta device; tiny preset from the reference script), optional
// modalities allocating nothing else, frozen/eval state, config parsing and input errors.
#include <fstream>
#include <set>
#include <sstream>

#include "models/imagebind/imagebind_model.h"
#include "models/imagebind/imagebind_weights.h"
#include "src/io/safetensors.h"
#include "src/io/state_dict.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

namespace {

using ibllm::models::ImageBindConfig;
using ibllm::models::ImageBindModel;
using KeyShapes = std::map<std::string, std::vector<int64_t>>;

KeyShapes read_key_list(const std::string& file) {
  std::ifstream in(ibllm::test::source_dir() / "tests/golden/fixtures/imagebind" / file);
  REQUIRE(in.good());
  KeyShapes out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string key, dims;
    ls >> key >> dims;
    std::vector<int64_t> shape;
    std::stringstream ds(dims);
    std::string d;
    while (std::getline(ds, d, ',')) shape.push_back(std::stoll(d));
    out[key] = shape;
  }
  return out;
}

KeyShapes model_keys(const ImageBindModel& m) {
  KeyShapes out;
  for (const auto& [k, s] : m->key_shapes()) out[k] = s;
  return out;
}

// Reports every missing / unexpected / mis-shaped key, then checks the maps are equal.
void check_same_keys(const KeyShapes& actual, const KeyShapes& expected) {
  std::string diff;
  for (const auto& [k, s] : expected) {
    auto it = actual.find(k);
    if (it == actual.end()) diff += "missing " + k + "\n";
    else if (it->second != s) diff += "shape mismatch " + k + "\n";
  }
  for (const auto& [k, s] : actual)
    if (!expected.count(k)) diff += "unexpected " + k + "\n";
  INFO(diff);
  CHECK(diff.empty());
  CHECK(actual.size() == expected.size());
}

int64_t numel(const KeyShapes& k) {
  int64_t n = 0;
  for (const auto& [name, s] : k) {
    int64_t e = 1;
    for (auto d : s) e *= d;
    n += e;
  }
  return n;
}

}  // namespace

TEST_CASE("imagebind huge: keys and shapes equal imagebind_w3D.pth (spec §1.8, §7.3)", "[imagebind]") {
  ImageBindModel m(ibllm::models::imagebind_huge_config(), at::TensorOptions().device(at::kMeta));
  KeyShapes keys = model_keys(m);
  check_same_keys(keys, read_key_list("imagebind_huge_keys.txt"));
  CHECK(keys.size() == 1476);
  CHECK(numel(keys) == 1223565617);
  CHECK(keys.count("modality_preprocessors.vision.rgbt_stem.proj.1.weight"));
  CHECK(keys.count("modality_trunks.audio.blocks.0.attn.bias_k"));
  CHECK(keys.count("modality_heads.imu.3.weight"));
  CHECK(keys.count("modality_postprocessors.text.1.log_logit_scale"));
}

TEST_CASE("imagebind huge without point: the 1311 keys of imagebind_huge.pth", "[imagebind]") {
  ImageBindConfig c = ibllm::models::imagebind_huge_config();
  c.modalities = {"vision", "text", "audio", "depth", "thermal", "imu"};
  ImageBindModel m(c, at::TensorOptions().device(at::kMeta));
  KeyShapes keys = model_keys(m);
  CHECK(keys.size() == 1311);
  CHECK(numel(keys) == 1200786990);
}

TEST_CASE("imagebind tiny: keys and shapes equal the reference script's state_dict", "[imagebind]") {
  ImageBindModel m(ibllm::models::imagebind_tiny_config());
  check_same_keys(model_keys(m), read_key_list("imagebind_tiny_keys.txt"));
}

TEST_CASE("imagebind: a vision-only model allocates nothing for other modalities", "[imagebind]") {
  ImageBindConfig c = ibllm::models::imagebind_tiny_config();
  c.modalities = {"vision"};
  ImageBindModel m(c);
  KeyShapes expected;
  for (const auto& [k, s] : read_key_list("imagebind_tiny_keys.txt"))
    if (k.find(".vision.") != std::string::npos) expected[k] = s;
  check_same_keys(model_keys(m), expected);
  CHECK_THROWS_AS(m->encode("audio", at::zeros({1, 1, 16, 24})), ibllm::ModelError);
}

TEST_CASE("imagebind: frozen and in eval mode, usable after reset_parameters", "[imagebind]") {
  ImageBindModel m(ibllm::models::imagebind_tiny_config());
  CHECK_FALSE(m->is_training());
  for (const auto& p : m->parameters()) CHECK_FALSE(p.requires_grad());
  m->reset_parameters();
  at::Tensor e = m->encode("vision", at::randn({2, 3, 28, 28}));
  CHECK(e.sizes() == at::IntArrayRef({2, 16}));
  CHECK_FALSE(e.requires_grad());
  // vision has no scale: unit norm; audio ×20 (init), multi-clip mean has norm <= 20
  CHECK(e.norm(2, -1).sub(1).abs().max().item<double>() < 1e-5);
  at::Tensor a = m->encode("audio", at::randn({2, 3, 1, 16, 24}));
  CHECK(a.norm(2, -1).max().item<double>() <= 20.0 + 1e-3);
  at::Tensor t = m->encode("text", at::randint(0, 64, {2, 8}, at::kLong));
  CHECK(t.norm(2, -1).sub(1.0 / 0.07).abs().max().item<double>() < 1e-3);
}

TEST_CASE("imagebind: wrong input shapes give clear errors", "[imagebind]") {
  ImageBindModel m(ibllm::models::imagebind_tiny_config());
  m->reset_parameters();
  CHECK_THROWS_AS(m->encode("vision", at::zeros({1, 3, 32, 32})), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("vision", at::zeros({1, 1, 3, 3, 28, 28})), ibllm::ModelError);  // 3 frames
  CHECK_THROWS_AS(m->encode("vision", at::zeros({1, 3, 2, 28, 28})), ibllm::ModelError);  // 5-D = images
  CHECK_THROWS_AS(m->encode("text", at::zeros({1, 9}, at::kLong)), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("text", at::full({1, 8}, 64, at::kLong)), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("imu", at::zeros({1, 6, 41})), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("depth", at::zeros({1, 3, 16, 16})), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("point", at::zeros({1, 8, 3})), ibllm::ModelError);  // < num_group
  at::Tensor nan_pts = at::randn({1, 64, 3});
  nan_pts[0][3][1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(m->encode("point", nan_pts), ibllm::ModelError);
  CHECK_THROWS_AS(m->encode("smell", at::zeros({1})), ibllm::ModelError);
}

TEST_CASE("imagebind config: preset, overrides and validation", "[imagebind]") {
  {
    auto doc = ibllm::config::Document::from_string(
        "preset: tiny\nmodalities: [vision, point]\nvision:\n  num_blocks: 1\npoint:\n  depth: 1\n");
    ImageBindConfig c = ibllm::models::parse_imagebind_config(doc.root());
    doc.finish();
    CHECK(c.out_dim == 16);
    CHECK(c.vision.embed_dim == 32);
    CHECK(c.vision.num_blocks == 1);
    CHECK(c.point.depth == 1);
    CHECK(c.has("point"));
    CHECK_FALSE(c.has("audio"));
  }
  {
    auto doc = ibllm::config::Document::from_string("{}");
    ImageBindConfig c = ibllm::models::parse_imagebind_config(doc.root());
    doc.finish();
    CHECK(c.vision.embed_dim == 1280);
    CHECK(c.audio.stride == std::vector<int64_t>{10});
    CHECK(c.modalities.size() == 7);
  }
  {
    auto doc = ibllm::config::Document::from_string("preset: tiny\nvision:\n  num_heads: 5\n");
    ibllm::models::parse_imagebind_config(doc.root());
    CHECK_THROWS_AS(doc.finish(), ibllm::ConfigError);
  }
  {
    auto doc = ibllm::config::Document::from_string("modalities: [vision, smell]\n");
    ibllm::models::parse_imagebind_config(doc.root());
    CHECK_THROWS_AS(doc.finish(), ibllm::ConfigError);
  }
}

TEST_CASE("imagebind weights: strict load, skipped unbuilt modalities, clear errors", "[imagebind]") {
  ImageBindModel full(ibllm::models::imagebind_tiny_config());
  at::manual_seed(1);
  full->reset_parameters();
  auto dir = ibllm::test::scratch_dir("imagebind_weights");
  const std::string path = (dir / "tiny.safetensors").string();
  ibllm::io::write_safetensors(path, ibllm::io::module_state(*full));

  ImageBindConfig vc = ibllm::models::imagebind_tiny_config();
  vc.modalities = {"vision", "point"};
  ImageBindModel vision(vc);
  auto report = ibllm::models::load_imagebind_weights(*vision, path);
  CHECK(report.missing.empty());
  CHECK_FALSE(report.ignored.empty());  // text/audio/... entries skipped
  at::Tensor x = at::randn({1, 3, 28, 28});
  CHECK(at::equal(vision->encode("vision", x), full->encode("vision", x)));

  // a checkpoint lacking a built modality's keys fails, naming them
  auto state = ibllm::io::module_state(*vision);
  state.erase("modality_heads.vision.2.weight");
  ImageBindModel again(vc);
  try {
    ibllm::models::load_imagebind_weights(*again, state);
    FAIL("expected CheckpointError");
  } catch (const ibllm::CheckpointError& e) {
    CHECK(std::string(e.what()).find("modality_heads.vision.2.weight") != std::string::npos);
  }
  CHECK_THROWS_AS(ibllm::models::load_imagebind_weights(*again, (dir / "w.bin").string()),
                  ibllm::CheckpointError);
}
