// Depth and thermal inputs for ImageBind: single-channel images -> (1,size,size). The reference has
// no loader and the training normalisation is unpublished (spec §1.4.5, §10), so these are our
// documented choices:
//  - thermal: 8-bit grayscale, PIL-compatible bicubic shorter-side resize + centre crop (as RGB
//    images), x/255, then (x - mean) / std (defaults 0 and 1);
//  - depth: 16-bit (or 8-bit) grayscale PNG, value / depth_scale (1000: millimetres -> metres),
//    bilinear shorter-side resize (no antialias) + centre crop, then (x - mean) / std.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ibllm::data {

struct SingleChannelConfig {
  int64_t size = 224;
  double depth_scale = 1000.0;  // depth only: stored value per unit (metres)
  double mean = 0.0;
  double std = 1.0;
};

at::Tensor load_thermal(const std::string& path, const SingleChannelConfig& c);
at::Tensor load_depth(const std::string& path, const SingleChannelConfig& c);
// (H,W) float depth in file units -> (1,size,size)
at::Tensor transform_depth(const at::Tensor& depth, const SingleChannelConfig& c);

}  // namespace ibllm::data
