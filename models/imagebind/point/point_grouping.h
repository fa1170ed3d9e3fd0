// Point-BERT grouping in pure ATen (spec §7.3 step 1, §9.4/§9.11): farthest-point sampling with a
// deterministic start index 0 (the reference starts at a random index) and k-nearest neighbours
// by squared Euclidean distance. No custom CUDA kernels (the reference needs knn_cuda/pointnet2).
#pragma once

#include <ATen/ATen.h>

namespace ibllm::models {

// xyz (B,N,3) -> indices (B,n) int64. Iteratively picks the point farthest (squared distance)
// from those already picked, starting at index 0; ties go to the lowest index.
at::Tensor farthest_point_sample(const at::Tensor& xyz, int64_t n);

struct PointGroups {
  at::Tensor neighborhoods;  // (B,G,K,3): neighbours minus their centre
  at::Tensor centers;        // (B,G,3)
};

// FPS centres, then the K nearest points of each centre (the centre itself included).
PointGroups group_points(const at::Tensor& xyz, int64_t num_group, int64_t group_size);

}  // namespace ibllm::models
