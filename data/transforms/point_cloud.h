// Point-cloud input for Point-Bind (spec §7.2): load xyz from .pt (torch.save tensor), .npy,
// .ply (ASCII / binary little- or big-endian), .xyz/.txt/.pts (whitespace rows) and .obj (`v`
// lines), then what the encoder was trained on: farthest-point-sample (start index 0, deterministic)
// down to `num_points` (or cycle-repeat up to it), subtract the centroid, scale to the unit sphere,
// float32. The reference loader does none of this (§9.11); `normalize: false` skips centring/scaling.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ibllm::data {

struct PointCloudConfig {
  int64_t num_points = 8192;
  bool normalize = true;
};

// -> float32 (N,3) (extra columns such as normals/colours dropped). Throws DataError naming the
// file for unknown extensions, malformed/truncated content, wrong shapes, NaN/inf coordinates.
at::Tensor load_point_cloud(const std::string& path);

// (N,3) float -> (num_points,3) float32, deterministic.
at::Tensor prepare_point_cloud(const at::Tensor& points, const PointCloudConfig& config);

// Farthest point sampling on the CPU: n indices, first 0, each next the point farthest (squared
// distance) from those chosen; ties to the lowest index.
std::vector<int64_t> farthest_point_indices(const at::Tensor& points, int64_t n);

}  // namespace ibllm::data
