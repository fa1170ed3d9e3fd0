// Golden parity of every ImageBind modality and Point-Bind (tiny presets) against the PyTorch
// restatement tests/golden/gen/imagebind_reference.py: weights are loaded by their official key
// names (strict both ways), then preprocessor tokens, trunk output, head output and the final
// post-processed embedding are compared, single- and multi-clip. fp32 on CPU.
#include <torch/nn/module.h>

#include <set>

#include "models/imagebind/imagebind_model.h"
#include "models/imagebind/point/point_grouping.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

namespace {

using ibllm::models::ImageBindConfig;
using ibllm::models::ImageBindModel;
using ibllm::models::ImageBindTrace;
using Tensors = std::map<std::string, at::Tensor>;

Tensors fixture(const std::string& modality) {
  auto path = ibllm::test::source_dir() / "tests/golden/fixtures/imagebind" /
              ("imagebind_tiny_" + modality + ".safetensors");
  return ibllm::io::read_safetensors(path.string());
}

bool is_data_key(const std::string& k) {
  return k.rfind("input.", 0) == 0 || k.rfind("output.", 0) == 0 || k.rfind("trace.", 0) == 0;
}

// Strict load: every model entry must be in the fixture with the same shape, and every weight in
// the fixture must be used.
void load_strict(torch::nn::Module& model, const Tensors& f) {
  at::NoGradGuard no_grad;
  std::set<std::string> used;
  auto copy = [&](const std::string& key, at::Tensor& dst) {
    auto it = f.find(key);
    INFO("model key " << key);
    REQUIRE(it != f.end());
    REQUIRE(it->second.sizes() == dst.sizes());
    dst.copy_(it->second);
    used.insert(key);
  };
  for (auto& kv : model.named_parameters()) copy(kv.key(), kv.value());
  for (auto& kv : model.named_buffers()) copy(kv.key(), kv.value());
  for (const auto& [k, v] : f) {
    INFO("fixture key not in model: " << k);
    CHECK((is_data_key(k) || used.count(k)));
  }
}

ImageBindModel tiny(const std::string& modality, bool conv2d_stem = true) {
  ImageBindConfig c = ibllm::models::imagebind_tiny_config();
  c.modalities = {modality};
  c.image_conv2d_stem = conv2d_stem;
  return ImageBindModel(c);
}

// Encodes input.<name> and compares output.<name> and the traced intermediates.
void check_case(const ImageBindModel& model, const std::string& modality, const Tensors& f,
                const std::string& name) {
  INFO(modality << " / " << name);
  ImageBindTrace trace;
  at::Tensor out = model->encode(modality, f.at("input." + name), &trace);
  if (modality != "point") {
    IBLLM_CHECK_TENSOR(trace.tokens, f.at("trace." + name + ".tokens"), 1e-5, 1e-6);
    // trunk outputs are O(1) sums over two blocks; fp32 accumulation order differs from torch's
    // fused MHA (measured worst 2.9e-6 absolute), hence atol 1e-5 on elements near zero
    IBLLM_CHECK_TENSOR(trace.trunk, f.at("trace." + name + ".trunk"), 1e-5, 1e-5);
  }
  IBLLM_CHECK_TENSOR(trace.head, f.at("trace." + name + ".head"), 1e-5, 1e-6);
  IBLLM_CHECK_TENSOR(out, f.at("output." + name), 1e-5, 1e-6);
}

}  // namespace

TEST_CASE("imagebind golden: vision image (Conv2d stem) and 2-frame video clips", "[imagebind][golden]") {
  Tensors f = fixture("vision");
  ImageBindModel model = tiny("vision");
  load_strict(*model, f);
  check_case(model, "vision", f, "image");
  check_case(model, "vision", f, "video");  // (B,S,3,2,H,W): multi-clip mean
}

TEST_CASE("imagebind golden: vision image through the reference Conv3d stem", "[imagebind][golden]") {
  Tensors f = fixture("vision");
  ImageBindModel model = tiny("vision", /*conv2d_stem=*/false);
  load_strict(*model, f);
  check_case(model, "vision", f, "image");
}

TEST_CASE("imagebind: Conv2d image stem equals the repeated-frame Conv3d", "[imagebind]") {
  Tensors f = fixture("vision");
  ImageBindModel a = tiny("vision", true), b = tiny("vision", false);
  load_strict(*a, f);
  load_strict(*b, f);
  ImageBindTrace ta, tb;
  a->encode("vision", f.at("input.image"), &ta);
  b->encode("vision", f.at("input.image"), &tb);
  IBLLM_CHECK_TENSOR(ta.tokens, tb.tokens, 1e-5, 1e-6);
  // An image given as a 1-frame clip (B,S=1,3,T=1,H,W) is padded to 2 frames (PadIm2Video).
  ImageBindTrace tc;
  b->encode("vision", f.at("input.image").unsqueeze(1).unsqueeze(3), &tc);
  IBLLM_CHECK_TENSOR(tc.tokens, tb.tokens, 1e-6, 1e-7);
}

TEST_CASE("imagebind golden: text (causal mask, EOT head, learnable scale)", "[imagebind][golden]") {
  Tensors f = fixture("text");
  ImageBindModel model = tiny("text");
  load_strict(*model, f);
  check_case(model, "text", f, "ids");
  // the learnable scale is a parameter, the mask a buffer
  auto params = model->named_parameters();
  CHECK(params.contains("modality_postprocessors.text.1.log_logit_scale"));
  CHECK(model->named_buffers().contains("modality_preprocessors.text.mask"));
}

TEST_CASE("imagebind golden: audio (add_bias_kv, stride-10 stem, multi-clip)", "[imagebind][golden]") {
  Tensors f = fixture("audio");
  ImageBindModel model = tiny("audio");
  load_strict(*model, f);
  check_case(model, "audio", f, "clips");
  check_case(model, "audio", f, "single");
  CHECK(model->named_buffers().contains("modality_postprocessors.audio.1.log_logit_scale"));
}

TEST_CASE("imagebind golden: depth, thermal, imu", "[imagebind][golden]") {
  for (const char* m : {"depth", "thermal"}) {
    Tensors f = fixture(m);
    ImageBindModel model = tiny(m);
    load_strict(*model, f);
    check_case(model, m, f, "image");
  }
  Tensors f = fixture("imu");
  ImageBindModel model = tiny("imu");
  load_strict(*model, f);
  check_case(model, "imu", f, "signal");
}

TEST_CASE("imagebind golden: Point-Bind (FPS from index 0, kNN, PointNet, CLS+max)", "[imagebind][point][golden]") {
  Tensors f = fixture("point");
  ImageBindModel model = tiny("point");
  load_strict(*model, f);
  check_case(model, "point", f, "points");
  // deterministic: a second run gives bit-identical output
  at::Tensor a = model->encode("point", f.at("input.points"));
  at::Tensor b = model->encode("point", f.at("input.points"));
  CHECK(at::equal(a, b));
}

TEST_CASE("point grouping: farthest point sampling and kNN on a hand-checked cloud", "[point]") {
  // points on a line at x = 0, 1, 2, 10, 11: FPS from index 0 picks 0, then x=11 (idx 4), then
  // the point farthest from both (x=2 at distance 4 beats x=10 at 1)
  at::Tensor xyz = at::zeros({1, 5, 3});
  const float xs[] = {0, 1, 2, 10, 11};
  for (int i = 0; i < 5; ++i) xyz[0][i][0] = xs[i];
  at::Tensor idx = ibllm::models::farthest_point_sample(xyz, 3);
  CHECK(idx[0][0].item<int64_t>() == 0);
  CHECK(idx[0][1].item<int64_t>() == 4);
  CHECK(idx[0][2].item<int64_t>() == 2);
  auto g = ibllm::models::group_points(xyz, 2, 2);
  // centre x=11's two nearest are 11 and 10 -> offsets {0, -1} in some order
  at::Tensor offs = std::get<0>(g.neighborhoods[0][1].select(1, 0).sort());
  CHECK(offs[0].item<float>() == -1.0f);
  CHECK(offs[1].item<float>() == 0.0f);
  CHECK_THROWS_AS(ibllm::models::farthest_point_sample(xyz, 6), ibllm::ModelError);
}

TEST_CASE("imagebind: bf16 parameters (the GPU setting) track the fp32 golden", "[imagebind][golden]") {
  // bf16 has 8 mantissa bits: compare directions (cosine), not values.
  for (const char* m : {"vision", "text", "audio", "imu", "point"}) {
    INFO(m);
    Tensors f = fixture(m);
    ImageBindConfig c = ibllm::models::imagebind_tiny_config();
    c.modalities = {m};
    ImageBindModel model(c, at::TensorOptions().dtype(at::kBFloat16));
    Tensors cast;
    for (const auto& [k, v] : f)
      cast[k] = (v.is_floating_point() && !is_data_key(k)) ? v.to(at::kBFloat16) : v;
    load_strict(*model, cast);
    for (const auto& [k, v] : f) {
      if (k.rfind("input.", 0) != 0) continue;
      const std::string name = k.substr(6);
      at::Tensor out = model->encode(m, v).to(at::kFloat);
      at::Tensor ref = f.at("output." + name);
      CHECK(model->parameters().front().scalar_type() == at::kBFloat16);
      const double cos = at::cosine_similarity(out, ref, -1).min().item<double>();
      INFO(name << " min cosine " << cos);
      CHECK(cos > 0.99);
    }
  }
}
