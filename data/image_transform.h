// The ImageBind image pipeline (spec §1.4.1): decode -> RGB -> resize shorter side to `size`
// (PIL bicubic + antialias) -> centre crop (Python rounding) -> [0,1] -> CLIP normalisation, and the
// ImageBind-LLM training augmentation RandomResizedCrop(size, scale, ratio, bicubic) with a
// per-sample seed (torchvision's parameter algorithm; our RNG, so crops are reproducible from the
// seed but not identical to torch's random stream).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::config {
class Section;
}

namespace ibllm::data {

struct ImageTransformConfig {
  int64_t size = 224;
  std::vector<double> mean = {0.48145466, 0.4578275, 0.40821073};
  std::vector<double> std = {0.26862954, 0.26130258, 0.27577711};
  // Apply EXIF orientation (the reference's PIL loader ignores it; false restores that).
  bool exif_orientation = true;
  // RandomResizedCrop bounds (used by ImageTransform::train).
  std::vector<double> crop_scale = {0.9, 1.0};
  std::vector<double> crop_ratio = {0.75, 4.0 / 3.0};
};

ImageTransformConfig parse_image_transform_config(config::Section s);

// Integer crop rectangle in source pixels.
struct CropRect {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// torchvision Resize(size) with an int: shorter side -> size, longer -> floor(size*long/short).
at::Tensor resize_shorter_side(const at::Tensor& rgb, int64_t size);
// torchvision CenterCrop offsets: int(round((H - size) / 2)) with half-to-even rounding.
CropRect center_crop_rect(int64_t height, int64_t width, int64_t size);
at::Tensor crop(const at::Tensor& rgb, const CropRect& r);  // uint8 (H,W,C) -> (h,w,C)
// torchvision RandomResizedCrop.get_params (10 tries, then the ratio-clamped centre fallback),
// drawing from a generator seeded with `seed`.
CropRect random_resized_crop_rect(int64_t height, int64_t width, const std::vector<double>& scale,
                                  const std::vector<double>& ratio, uint64_t seed);
// uint8 (H,W,3) -> float (3,H,W): (x/255 - mean) / std, in float32 as ToTensor + Normalize.
at::Tensor normalize_image(const at::Tensor& rgb, const std::vector<double>& mean,
                           const std::vector<double>& std);

class ImageTransform {
 public:
  explicit ImageTransform(ImageTransformConfig config);
  // Evaluation path: -> float (3,size,size).
  at::Tensor eval(const std::string& path) const;
  at::Tensor eval_rgb(const at::Tensor& rgb) const;
  // Training augmentation: RandomResizedCrop with the given per-sample seed -> (3,size,size).
  at::Tensor train(const std::string& path, uint64_t seed) const;
  at::Tensor train_rgb(const at::Tensor& rgb, uint64_t seed) const;
  const ImageTransformConfig& config() const { return config_; }

 private:
  ImageTransformConfig config_;
};

}  // namespace ibllm::data
