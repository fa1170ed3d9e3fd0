// Depth / thermal loaders (see depth_thermal.h). Decoding goes through OpenCV with ANYDEPTH so
// 16-bit depth PNGs keep their range.
#include "data/transforms/depth_thermal.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "data/image_transform.h"
#include "src/core/error.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

namespace ibllm::data {

namespace {

#if IBLLM_WITH_OPENCV
cv::Mat read_gray(const std::string& path, int flags, const char* what) {
  if (!std::filesystem::exists(path)) throw DataError(std::string(what) + " image '" + path + "' does not exist");
  cv::Mat m = cv::imread(path, flags);
  if (m.empty()) throw DataError("cannot decode " + std::string(what) + " image '" + path + "'");
  if (m.channels() != 1)
    throw DataError(std::string(what) + " image '" + path + "' must be single-channel, has " +
                    std::to_string(m.channels()));
  return m;
}
#endif

at::Tensor center(const at::Tensor& chw, int64_t size) {
  CropRect r = center_crop_rect(chw.size(1), chw.size(2), size);
  return chw.narrow(1, r.top, r.height).narrow(2, r.left, r.width).contiguous();
}

}  // namespace

at::Tensor load_thermal(const std::string& path, const SingleChannelConfig& c) {
#if IBLLM_WITH_OPENCV
  cv::Mat m = read_gray(path, cv::IMREAD_GRAYSCALE, "thermal");
  at::Tensor img = at::empty({m.rows, m.cols, 1}, at::kByte);
  for (int y = 0; y < m.rows; ++y)
    std::memcpy(img.data_ptr<uint8_t>() + static_cast<size_t>(y) * m.cols, m.ptr<uint8_t>(y), m.cols);
  at::Tensor r = resize_shorter_side(img, c.size).permute({2, 0, 1});  // (1,H',W')
  return (center(r, c.size).to(at::kFloat) / 255.0 - c.mean) / c.std;
#else
  (void)path;
  (void)c;
  throw NotBuiltError("OpenCV", "thermal image decoding");
#endif
}

at::Tensor transform_depth(const at::Tensor& depth, const SingleChannelConfig& c) {
  // (H,W) -> (1,size,size)
  if (depth.dim() != 2) throw DataError("depth map must be (H,W)");
  at::Tensor d = (depth.to(at::kFloat) / c.depth_scale).unsqueeze(0).unsqueeze(0);
  const int64_t h = d.size(2), w = d.size(3);
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  const auto long_out = static_cast<int64_t>(static_cast<double>(c.size * longer) / shorter);
  const int64_t nh = h <= w ? c.size : long_out, nw = h <= w ? long_out : c.size;
  d = at::upsample_bilinear2d(d, {nh, nw}, /*align_corners=*/false)[0];
  return (center(d, c.size) - c.mean) / c.std;
}

at::Tensor load_depth(const std::string& path, const SingleChannelConfig& c) {
#if IBLLM_WITH_OPENCV
  cv::Mat m = read_gray(path, cv::IMREAD_ANYDEPTH | cv::IMREAD_GRAYSCALE, "depth");
  cv::Mat f;
  m.convertTo(f, CV_32F);
  at::Tensor d = at::empty({f.rows, f.cols}, at::kFloat);
  for (int y = 0; y < f.rows; ++y)
    std::memcpy(d.data_ptr<float>() + static_cast<size_t>(y) * f.cols, f.ptr<float>(y),
                static_cast<size_t>(f.cols) * sizeof(float));
  return transform_depth(d, c);
#else
  (void)path;
  (void)c;
  throw NotBuiltError("OpenCV", "depth image decoding");
#endif
}

}  // namespace ibllm::data
