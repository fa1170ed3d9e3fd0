// Video pipeline: the clip transform against the PyTorch restatement
// (tests/golden/gen/imagebind_video_fixtures.py: F.interpolate bilinear, uniform_crop), and the
// OpenCV decode path on a generated MJPG AVI whose frames encode their index, checking which frames
// each of the 5 clips picks.
#include <ATen/ATen.h>

#include "data/transforms/video.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#endif

using namespace ibllm::data;

TEST_CASE("video golden: subsample, short-side bilinear scale, normalise, 3 crops", "[imagebind][video][golden]") {
  auto f = ibllm::io::read_safetensors(
      (ibllm::test::source_dir() / "tests/golden/fixtures/imagebind/video_clip.safetensors").string());
  VideoTransformConfig c;
  c.size = 16;
  for (const char* name : {"landscape", "portrait"}) {
    INFO(name);
    auto crops = transform_video_clip(f.at(std::string(name) + ".frames"), c);
    REQUIRE(crops.size() == 3);
    // atol 1e-5: torch 2.x's CPU bilinear kernel orders the weight arithmetic differently from the
    // torch 1.13 that wrote the fixture (measured max abs 5.1e-6 on values of magnitude ~2).
    IBLLM_CHECK_TENSOR(at::stack(crops), f.at(std::string(name) + ".crops"), 1e-5, 1e-5);
  }
}

TEST_CASE("video: temporal indices and crop offsets", "[imagebind][video]") {
  CHECK(uniform_temporal_indices(60, 2) == std::vector<int64_t>{0, 59});
  CHECK(uniform_temporal_indices(1, 2) == std::vector<int64_t>{0, 0});
  at::Tensor v = at::arange(300, at::kFloat).view({1, 1, 10, 30});
  CHECK(uniform_crop(v, 10, 0)[0][0][0][0].item<float>() == 0);
  CHECK(uniform_crop(v, 10, 1)[0][0][0][0].item<float>() == 10);   // ceil(20/2)
  CHECK(uniform_crop(v, 10, 2)[0][0][0][0].item<float>() == 20);
}

#if IBLLM_WITH_OPENCV
TEST_CASE("video decode: 5 clips x 3 crops from an MJPG file, first/last frame per clip", "[imagebind][video][skips]") {
  auto dir = ibllm::test::scratch_dir("video");
  const std::string path = (dir / "ramp.avi").string();
  const int fps = 10, n = 60;  // 6 s: clips start at 0, 1, 2, 3, 4 s
  {
    cv::VideoWriter w(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, cv::Size(48, 32));
    if (!w.isOpened()) IBLLM_SKIP("OpenCV cannot write MJPG video here");
    for (int i = 0; i < n; ++i) w.write(cv::Mat(32, 48, CV_8UC3, cv::Scalar(i * 4, i * 4, i * 4)));
  }
  VideoTransformConfig c;
  c.size = 16;
  at::Tensor out = VideoTransform(c).load(path);
  REQUIRE(out.sizes() == at::IntArrayRef({15, 3, 2, 16, 16}));
  // clip k covers t in [k, k+2] s = frames 10k .. min(10k+20, 59): first and last frame
  const double mean = 0.48145466, std = 0.26862954;
  for (int k = 0; k < 5; ++k) {
    const int first = 10 * k, last = std::min(10 * k + 20, n - 1);
    for (int crop = 0; crop < 3; ++crop) {
      const double v0 = out[k * 3 + crop][0][0].mean().item<double>() * std + mean;
      const double v1 = out[k * 3 + crop][0][1].mean().item<double>() * std + mean;
      CHECK(std::abs(v0 * 255 - first * 4) < 3.0);  // JPEG rounding
      CHECK(std::abs(v1 * 255 - last * 4) < 3.0);
    }
  }
  CHECK_THROWS_AS(VideoTransform(c).load((dir / "missing.avi").string()), ibllm::DataError);
}
#endif
