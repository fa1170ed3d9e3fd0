// Image pipeline pieces: Python-rounding centre crop, seeded RandomResizedCrop bounds and
// determinism, normalisation, config parsing and the errors for bad image files.
#include <ATen/ATen.h>

#include <fstream>

#include "data/image_decode.h"
#include "data/image_transform.h"
#include "src/config/document.h"
#include "src/core/error.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

using namespace ibllm::data;

TEST_CASE("image: centre crop offsets use Python round (half to even)", "[image]") {
  CHECK(center_crop_rect(224, 225, 224).left == 0);  // round(0.5) = 0
  CHECK(center_crop_rect(224, 227, 224).left == 2);  // round(1.5) = 2
  CHECK(center_crop_rect(229, 224, 224).top == 2);   // round(2.5) = 2
  CHECK(center_crop_rect(336, 224, 224).top == 56);
  CHECK_THROWS_AS(center_crop_rect(200, 300, 224), ibllm::DataError);
}

TEST_CASE("image: resize_shorter_side keeps floor(224*long/short)", "[image]") {
  at::Tensor img = at::zeros({249, 374, 3}, at::kByte);
  at::Tensor r = resize_shorter_side(img, 224);
  CHECK(r.size(0) == 224);
  CHECK(r.size(1) == 336);  // int(224*374/249) = 336
  at::Tensor tall = resize_shorter_side(at::zeros({427, 320, 3}, at::kByte), 224);
  CHECK(tall.size(1) == 224);
  CHECK(tall.size(0) == 298);  // int(224*427/320) = 298
}

TEST_CASE("image: RandomResizedCrop is seeded per sample and stays within scale/ratio", "[image]") {
  const std::vector<double> scale = {0.9, 1.0}, ratio = {0.75, 4.0 / 3.0};
  int distinct = 0;
  CropRect prev;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    CropRect a = random_resized_crop_rect(480, 500, scale, ratio, seed);
    CropRect b = random_resized_crop_rect(480, 500, scale, ratio, seed);
    CHECK((a.top == b.top && a.left == b.left && a.height == b.height && a.width == b.width));
    CHECK(a.top >= 0);
    CHECK(a.left >= 0);
    CHECK(a.top + a.height <= 480);
    CHECK(a.left + a.width <= 500);
    const double frac = static_cast<double>(a.height) * a.width / (480.0 * 500.0);
    const double r = static_cast<double>(a.width) / a.height;
    CHECK(frac >= 0.88);  // 0.9 up to rounding of w and h
    CHECK(frac <= 1.0);
    CHECK(r >= 0.74);
    CHECK(r <= 1.35);
    if (seed && (a.top != prev.top || a.width != prev.width)) ++distinct;
    prev = a;
  }
  CHECK(distinct > 100);
  // an image wider than 4/3 (e.g. the 640x427 demo photos) cannot fit scale >= 0.9 within the
  // ratio range: torchvision then falls back to a centre crop clamped to ratio 4/3
  CropRect demo = random_resized_crop_rect(427, 640, scale, ratio, 5);
  CHECK(demo.height == 427);
  CHECK(demo.width == 569);  // round(427 * 4/3)
  CropRect f = random_resized_crop_rect(100, 1000, scale, ratio, 3);
  CHECK(f.height == 100);
  CHECK(f.width == 133);
  CHECK(f.left == (1000 - 133) / 2);
  ImageTransform t{ImageTransformConfig{}};
  at::Tensor rgb = at::randint(0, 256, {300, 400, 3}, at::kByte);
  at::Tensor x1 = t.train_rgb(rgb, 42), x2 = t.train_rgb(rgb, 42);
  CHECK(x1.sizes() == at::IntArrayRef({3, 224, 224}));
  CHECK(at::equal(x1, x2));
}

TEST_CASE("image: CLIP normalisation of extreme pixels", "[image]") {
  at::Tensor rgb = at::zeros({1, 2, 3}, at::kByte);
  rgb[0][1].fill_(255);
  ImageTransformConfig c;
  at::Tensor x = normalize_image(rgb, c.mean, c.std);
  CHECK(x.sizes() == at::IntArrayRef({3, 1, 2}));
  CHECK(x[0][0][0].item<float>() == Approx(-0.48145466 / 0.26862954).epsilon(1e-6));
  CHECK(x[2][0][1].item<float>() == Approx((1 - 0.40821073) / 0.27577711).epsilon(1e-6));
}

TEST_CASE("image config: parse and reject bad values", "[image]") {
  auto doc = ibllm::config::Document::from_string("size: 112\nexif_orientation: false\n");
  ImageTransformConfig c = parse_image_transform_config(doc.root());
  doc.finish();
  CHECK(c.size == 112);
  CHECK_FALSE(c.exif_orientation);
  auto bad = ibllm::config::Document::from_string("mean: [0.5]\ncrop_scale: [1.0, 0.9]\n");
  parse_image_transform_config(bad.root());
  CHECK_THROWS_AS(bad.finish(), ibllm::ConfigError);
}

#if IBLLM_WITH_OPENCV
TEST_CASE("image decode: bad files give DataError naming the file", "[image]") {
  auto dir = ibllm::test::scratch_dir("image_bad");
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  };
  const std::string empty = write("empty.jpg", "");
  const std::string text = write("text.jpg", "this is not an image\n");
  for (const auto& p : {empty, text, (dir / "missing.jpg").string()}) {
    try {
      decode_image_file(p);
      FAIL("expected DataError for " << p);
    } catch (const ibllm::DataError& e) {
      CHECK(std::string(e.what()).find(p) != std::string::npos);
    }
  }
  auto exif = ibllm::test::source_dir() / "tests/golden/fixtures/imagebind/image_exif_rot6.jpg";
  std::ifstream in(exif, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 100);
  const std::string cut = write("cut.jpg", bytes.substr(0, bytes.size() - 40));
  CHECK_THROWS_AS(decode_image_file(cut), ibllm::DataError);
}
#else
TEST_CASE("image decode: built without OpenCV throws NotBuiltError", "[image]") {
  CHECK_THROWS_AS(decode_image_file("x.jpg"), ibllm::NotBuiltError);
}
#endif
