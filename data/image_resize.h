// PIL-compatible bicubic resampling of 8-bit images (spec §1.4.1): Pillow's separable two-pass
// filter (a = -0.5 cubic, support scaled by the downscale factor = antialiasing, 22-bit fixed-point
// weights, horizontal pass first into an 8-bit intermediate). Reproduces Image.resize(size, BICUBIC,
// box) pixel for pixel; OpenCV's INTER_CUBIC (a = -0.75, no antialias) does not.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace ibllm::data {

// Source region in pixel coordinates (left, top, right, bottom); may be fractional. The filter may
// read pixels outside the box (inside the image), as Pillow does.
using ResizeBox = std::array<double, 4>;

// img: uint8 (H,W,C) contiguous -> uint8 (out_h,out_w,C). box defaults to the whole image.
at::Tensor resize_bicubic_pil(const at::Tensor& img, int64_t out_w, int64_t out_h);
at::Tensor resize_bicubic_pil(const at::Tensor& img, int64_t out_w, int64_t out_h, const ResizeBox& box);

}  // namespace ibllm::data
