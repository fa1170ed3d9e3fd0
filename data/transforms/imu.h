// IMU input for ImageBind (spec §1.4.5: no reference loader exists, so this is our documented
// choice): accelerometer+gyroscope as (6,T) or (T,6) from .npy or CSV/whitespace text, float32,
// first `num_samples` samples kept, shorter signals zero-padded on the right -> (6, num_samples).
// No normalisation (the ImageBind training normalisation is not published).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ibllm::data {

struct ImuTransformConfig {
  int64_t channels = 6;
  int64_t num_samples = 2000;
};

// (channels,T) or (T,channels) -> (channels, num_samples) float32. DataError naming the file for
// bad shapes, non-numeric text, NaN/inf.
at::Tensor prepare_imu(const at::Tensor& signal, const ImuTransformConfig& c, const std::string& name);
at::Tensor load_imu(const std::string& path, const ImuTransformConfig& c);

}  // namespace ibllm::data
