// Depth, thermal and IMU loaders (our documented choices; the reference has none): shapes,
// value mapping, the error paths, and the .npy reader's dtypes.
#include <ATen/ATen.h>

#include <fstream>

#include "data/transforms/depth_thermal.h"
#include "data/transforms/imu.h"
#include "data/transforms/npy.h"
#include "src/core/error.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

using namespace ibllm::data;

TEST_CASE("imu: (T,6) text and (6,T) npy become (6,2000), padded or cut", "[imagebind][imu]") {
  auto dir = ibllm::test::scratch_dir("imu");
  {
    std::ofstream f(dir / "walk.csv");
    f << "ax,ay,az,gx,gy,gz\n";
    for (int t = 0; t < 10; ++t) f << t << "," << -t << ",0.5,1,2," << t * 0.25 << "\n";
  }
  ImuTransformConfig c;
  at::Tensor x = load_imu((dir / "walk.csv").string(), c);
  REQUIRE(x.sizes() == at::IntArrayRef({6, 2000}));
  CHECK(x[0][9].item<float>() == 9.0f);
  CHECK(x[1][9].item<float>() == -9.0f);
  CHECK(x[5][4].item<float>() == 1.0f);
  CHECK(x.narrow(1, 10, 1990).abs().max().item<float>() == 0.0f);
  at::Tensor long_sig = at::randn({6, 2500});
  CHECK(at::equal(prepare_imu(long_sig, c, "x"), long_sig.narrow(1, 0, 2000)));
  CHECK_THROWS_AS(prepare_imu(at::randn({5, 100}), c, "x"), ibllm::DataError);
  at::Tensor nan = at::zeros({6, 10});
  nan[2][3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(prepare_imu(nan, c, "x"), ibllm::DataError);
  {
    std::ofstream f(dir / "bad.csv");
    f << "1,2,3,4,5,6\n1,2,x,4,5,6\n";
  }
  CHECK_THROWS_AS(load_imu((dir / "bad.csv").string(), c), ibllm::DataError);
  CHECK_THROWS_AS(load_imu((dir / "missing.npy").string(), c), ibllm::DataError);
  CHECK_THROWS_AS(load_imu((dir / "walk.json").string(), c), ibllm::DataError);
}

TEST_CASE("npy reader: dtypes, shapes and truncation", "[imagebind][point]") {
  auto fix = ibllm::test::source_dir() / "tests/golden/fixtures/imagebind";
  at::Tensor a = read_npy((fix / "points.npy").string());
  CHECK(a.scalar_type() == at::kDouble);
  CHECK(a.sizes() == at::IntArrayRef({40, 6}));
  CHECK(read_npy((fix / "points_f4.npy").string()).scalar_type() == at::kFloat);
  auto dir = ibllm::test::scratch_dir("npy");
  std::ifstream in(fix / "points.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 8);
  CHECK_THROWS_AS(read_npy((dir / "cut.npy").string()), ibllm::DataError);
  std::ofstream(dir / "text.npy", std::ios::binary) << "hello";
  CHECK_THROWS_AS(read_npy((dir / "text.npy").string()), ibllm::DataError);
}

TEST_CASE("depth: metres, bilinear shorter-side resize, centre crop", "[imagebind][depth]") {
  SingleChannelConfig c;
  c.size = 8;
  at::Tensor d = at::full({16, 32}, 2500.0f);  // 2.5 m everywhere
  at::Tensor out = transform_depth(d, c);
  REQUIRE(out.sizes() == at::IntArrayRef({1, 8, 8}));
  CHECK(out.sub(2.5).abs().max().item<float>() < 1e-6);
#if IBLLM_WITH_OPENCV
  auto dir = ibllm::test::scratch_dir("depth");
  cv::Mat m(20, 30, CV_16UC1, cv::Scalar(60000));  // 60 m: beyond 8 bits, must keep 16-bit range
  REQUIRE(cv::imwrite((dir / "d.png").string(), m));
  at::Tensor x = load_depth((dir / "d.png").string(), c);
  CHECK(x.sizes() == at::IntArrayRef({1, 8, 8}));
  CHECK(x.sub(60.0).abs().max().item<float>() < 1e-4);
  cv::Mat t(24, 16, CV_8UC1, cv::Scalar(51));
  REQUIRE(cv::imwrite((dir / "t.png").string(), t));
  at::Tensor th = load_thermal((dir / "t.png").string(), c);
  CHECK(th.sizes() == at::IntArrayRef({1, 8, 8}));
  CHECK(th.sub(0.2).abs().max().item<float>() < 1e-6);
  CHECK_THROWS_AS(load_depth((dir / "none.png").string(), c), ibllm::DataError);
  cv::Mat rgb(8, 8, CV_8UC3, cv::Scalar(1, 2, 3));
  REQUIRE(cv::imwrite((dir / "rgb.png").string(), rgb));
  CHECK_NOTHROW(load_thermal((dir / "rgb.png").string(), c));  // IMREAD_GRAYSCALE converts
#endif
}
