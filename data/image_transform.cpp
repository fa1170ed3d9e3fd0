// Image pipeline (see image_transform.h). Rounding follows Python: int() truncates, round() is
// half-to-even; both matter for the exact crop offsets and RandomResizedCrop sizes.
#include "data/image_transform.h"

#include <ATen/ATen.h>

#include <cmath>
#include <random>

#include "data/image_decode.h"
#include "data/image_resize.h"
#include "src/config/section.h"
#include "src/core/error.h"

namespace ibllm::data {

namespace {

// Python's round() for a double: nearest integer, ties to even.
int64_t py_round(double v) {
  double r = std::round(v);  // ties away from zero
  if (std::fabs(v - std::trunc(v)) == 0.5) r = 2.0 * std::round(v / 2.0);
  return static_cast<int64_t>(r);
}

}  // namespace

ImageTransformConfig parse_image_transform_config(config::Section s) {
  ImageTransformConfig c;
  s.field("size", c.size, config::at_least(1));
  s.field("mean", c.mean);
  s.field("std", c.std, config::positive());
  s.field("exif_orientation", c.exif_orientation);
  s.field("crop_scale", c.crop_scale, config::between(0.0, 1.0));
  s.field("crop_ratio", c.crop_ratio, config::positive());
  if (c.mean.size() != 3) s.fail("mean", "needs 3 values (R, G, B)");
  if (c.std.size() != 3) s.fail("std", "needs 3 values (R, G, B)");
  if (c.crop_scale.size() != 2 || c.crop_scale[0] > c.crop_scale[1])
    s.fail("crop_scale", "needs [min, max] with min <= max");
  if (c.crop_ratio.size() != 2 || c.crop_ratio[0] > c.crop_ratio[1])
    s.fail("crop_ratio", "needs [min, max] with min <= max");
  return c;
}

at::Tensor resize_shorter_side(const at::Tensor& rgb, int64_t size) {
  const int64_t h = rgb.size(0), w = rgb.size(1);
  const int64_t shorter = std::min(h, w), longer = std::max(h, w);
  const auto long_out = static_cast<int64_t>(static_cast<double>(size * longer) / shorter);
  return w <= h ? resize_bicubic_pil(rgb, size, long_out) : resize_bicubic_pil(rgb, long_out, size);
}

CropRect center_crop_rect(int64_t height, int64_t width, int64_t size) {
  if (height < size || width < size)
    throw DataError("centre crop of " + std::to_string(size) + " from a " + std::to_string(width) +
                    "x" + std::to_string(height) + " image");
  return {py_round((height - size) / 2.0), py_round((width - size) / 2.0), size, size};
}

at::Tensor crop(const at::Tensor& rgb, const CropRect& r) {
  return rgb.narrow(0, r.top, r.height).narrow(1, r.left, r.width).contiguous();
}

CropRect random_resized_crop_rect(int64_t height, int64_t width, const std::vector<double>& scale,
                                  const std::vector<double>& ratio, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  const double area = static_cast<double>(height) * width;
  const double log_lo = std::log(ratio[0]), log_hi = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * uniform(scale[0], scale[1]);
    const double aspect = std::exp(uniform(log_lo, log_hi));
    const int64_t w = py_round(std::sqrt(target * aspect));
    const int64_t h = py_round(std::sqrt(target / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t i = std::uniform_int_distribution<int64_t>(0, height - h)(rng);
      const int64_t j = std::uniform_int_distribution<int64_t>(0, width - w)(rng);
      return {i, j, h, w};
    }
  }
  // Fallback to a centre crop clamped to the ratio range.
  const double in_ratio = static_cast<double>(width) / height;
  int64_t w = width, h = height;
  if (in_ratio < ratio[0]) {
    h = py_round(w / ratio[0]);
  } else if (in_ratio > ratio[1]) {
    w = py_round(h * ratio[1]);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

at::Tensor normalize_image(const at::Tensor& rgb, const std::vector<double>& mean,
                           const std::vector<double>& std) {
  // (H,W,3) uint8 -> (3,H,W) float32
  at::Tensor x = rgb.permute({2, 0, 1}).to(at::kFloat).div(255.0f);
  at::Tensor m = at::tensor(std::vector<float>(mean.begin(), mean.end())).view({3, 1, 1});
  at::Tensor s = at::tensor(std::vector<float>(std.begin(), std.end())).view({3, 1, 1});
  return x.sub(m).div(s).contiguous();
}

ImageTransform::ImageTransform(ImageTransformConfig config) : config_(std::move(config)) {}

at::Tensor ImageTransform::eval_rgb(const at::Tensor& rgb) const {
  at::Tensor r = resize_shorter_side(rgb, config_.size);
  r = crop(r, center_crop_rect(r.size(0), r.size(1), config_.size));
  return normalize_image(r, config_.mean, config_.std);
}

at::Tensor ImageTransform::eval(const std::string& path) const {
  return eval_rgb(decode_image_file(path, config_.exif_orientation));
}

at::Tensor ImageTransform::train_rgb(const at::Tensor& rgb, uint64_t seed) const {
  CropRect r = random_resized_crop_rect(rgb.size(0), rgb.size(1), config_.crop_scale,
                                        config_.crop_ratio, seed);
  // torchvision resized_crop on PIL: crop first, then resize (the filter never reads outside)
  at::Tensor c = resize_bicubic_pil(crop(rgb, r), config_.size, config_.size);
  return normalize_image(c, config_.mean, config_.std);
}

at::Tensor ImageTransform::train(const std::string& path, uint64_t seed) const {
  return train_rgb(decode_image_file(path, config_.exif_orientation), seed);
}

}  // namespace ibllm::data
