// Image file decoding with OpenCV (JPEG/PNG/WebP/BMP/...) to RGB uint8 (H,W,3), like PIL's
// Image.open(p).convert("RGB"): grayscale replicated, alpha dropped (not composited). EXIF
// orientation is applied by default (the reference's PIL path ignores it: exif_orientation=false
// restores that). Built without OpenCV (IBLLM_WITH_OPENCV=0) every call throws NotBuiltError.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::data {

// Throws DataError naming the file for missing, empty, truncated or undecodable input.
at::Tensor decode_image_file(const std::string& path, bool exif_orientation = true);
// Same for an in-memory encoded file; `name` is used in error messages.
at::Tensor decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name,
                              bool exif_orientation = true);

}  // namespace ibllm::data
