// Point-cloud input pipeline: every loader format against the points the Python writer stored,
// malformed files, FPS resampling / normalisation, and the end-to-end determinism of the Point-Bind
// path on the four shared example_*.pt clouds.
#include <ATen/ATen.h>

#include <limits>
#include <set>

#include "data/transforms/point_cloud.h"
#include "models/imagebind/imagebind_model.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::data;

namespace {

std::string fix(const std::string& name) {
  return (ibllm::test::source_dir() / "tests/golden/fixtures/imagebind" / name).string();
}

}  // namespace

TEST_CASE("point cloud loaders: npy, xyz, obj, ply ascii/binary LE/BE give the same points", "[point]") {
  at::Tensor expected = ibllm::io::read_safetensors(fix("points_expected.safetensors")).at("points");
  for (const char* name : {"points.npy", "points_f4.npy", "points.xyz", "points.obj",
                           "points_ascii.ply", "points_le.ply", "points_be.ply"}) {
    INFO(name);
    at::Tensor p = load_point_cloud(fix(name));
    REQUIRE(p.sizes() == at::IntArrayRef({40, 3}));
    CHECK(p.scalar_type() == at::kFloat);
    IBLLM_CHECK_TENSOR(p, expected, 1e-6, 1e-7);
  }
}

TEST_CASE("point cloud loaders: malformed files are DataErrors naming the file", "[point]") {
  for (const char* name : {"points_bad_shape.npy", "points_truncated.ply", "points_nan.xyz",
                           "missing.ply", "image_gray.png", "image_exif_rot6.jpg"}) {
    INFO(name);
    try {
      load_point_cloud(fix(name));
      FAIL("expected a DataError");
    } catch (const ibllm::DataError& e) {
      CHECK(std::string(e.what()).find(name) != std::string::npos);
    }
  }
}

TEST_CASE("point cloud prepare: FPS down, cycle up, centre and unit sphere, deterministic", "[point]") {
  at::Tensor pts = at::randn({500, 3}) * 3 + 1;
  PointCloudConfig c;
  c.num_points = 128;
  at::Tensor a = prepare_point_cloud(pts, c), b = prepare_point_cloud(pts, c);
  REQUIRE(a.sizes() == at::IntArrayRef({128, 3}));
  CHECK(at::equal(a, b));
  CHECK(a.mean(0).abs().max().item<double>() < 1e-5);
  CHECK(a.norm(2, 1).max().item<double>() == Approx(1.0).epsilon(1e-6));
  std::vector<int64_t> idx = farthest_point_indices(pts, 4);
  CHECK(idx[0] == 0);
  CHECK(std::set<int64_t>(idx.begin(), idx.end()).size() == 4);
  c.num_points = 700;
  at::Tensor up = prepare_point_cloud(pts.narrow(0, 0, 300), c);
  CHECK(up.size(0) == 700);
  CHECK(at::equal(up[0], up[300]));  // cycle-repeated
  at::Tensor bad = pts.clone();
  bad[7][1] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(prepare_point_cloud(bad, c), ibllm::DataError);
}

TEST_CASE("point pipeline on the example_*.pt assets: loads and encodes deterministically", "[point][skips]") {
  ibllm::models::ImageBindConfig cfg = ibllm::models::imagebind_tiny_config();
  cfg.modalities = {"point"};
  at::manual_seed(0);
  ibllm::models::ImageBindModel model(cfg);
  model->reset_parameters();
  for (const char* name : {"example_airplane.pt", "example_car.pt", "example_door.pt", "example_toilet.pt"}) {
    IBLLM_REQUIRE_ASSET(path, name);
    INFO(name);
    at::Tensor raw = load_point_cloud(path.string());
    REQUIRE(raw.sizes() == at::IntArrayRef({8192, 3}));
    PointCloudConfig pc;  // 8192 points: no resampling; already centred with radius 1
    at::Tensor p = prepare_point_cloud(raw, pc);
    IBLLM_CHECK_TENSOR(p, raw, 1e-4, 1e-5);
    at::Tensor e1 = model->encode("point", p.unsqueeze(0));
    CHECK(at::equal(e1, model->encode("point", p.unsqueeze(0))));
    CHECK(e1.norm(2, -1).item<double>() == Approx(1.0).epsilon(1e-5));  // point scale is 1
  }
}
