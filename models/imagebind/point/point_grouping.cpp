// FPS + kNN grouping for the Point-Bind encoder (see point_grouping.h). Distances are computed in
// the input dtype as sum((p - c)^2), matching the reference's explicit squared differences.
#include "models/imagebind/point/point_grouping.h"

#include "src/core/error.h"

namespace ibllm::models {

at::Tensor farthest_point_sample(const at::Tensor& xyz, int64_t n) {
  // xyz (B,N,3) -> (B,n) int64
  if (xyz.dim() != 3 || xyz.size(2) != 3)
    throw ModelError("farthest point sampling expects points (B,N,3), got " +
                     std::to_string(xyz.dim()) + "-D input");
  const int64_t B = xyz.size(0), N = xyz.size(1);
  if (n > N)
    throw ModelError("cannot sample " + std::to_string(n) + " centres from " + std::to_string(N) +
                     " points", "resample the cloud to at least num_group points first");
  auto long_opts = xyz.options().dtype(at::kLong);
  at::Tensor idx = at::zeros({B, n}, long_opts);
  at::Tensor dist = at::full({B, N}, 1e10, xyz.options());
  at::Tensor far = at::zeros({B}, long_opts);
  for (int64_t i = 0; i < n; ++i) {
    idx.select(1, i).copy_(far);
    at::Tensor c = xyz.gather(1, far.view({B, 1, 1}).expand({B, 1, 3}));  // (B,1,3)
    dist = at::minimum(dist, (xyz - c).pow(2).sum(-1));
    far = dist.argmax(-1);
  }
  return idx;
}

PointGroups group_points(const at::Tensor& xyz, int64_t num_group, int64_t group_size) {
  // xyz (B,N,3) -> neighborhoods (B,G,K,3), centers (B,G,3)
  const int64_t B = xyz.size(0), N = xyz.size(1);
  if (group_size > N)
    throw ModelError("group_size " + std::to_string(group_size) + " exceeds the " +
                     std::to_string(N) + " input points");
  at::Tensor fps = farthest_point_sample(xyz, num_group);
  at::Tensor centers = xyz.gather(1, fps.unsqueeze(-1).expand({B, num_group, 3}));
  at::Tensor d = (centers.unsqueeze(2) - xyz.unsqueeze(1)).pow(2).sum(-1);  // (B,G,N)
  at::Tensor knn = std::get<1>(d.topk(group_size, -1, /*largest=*/false));    // (B,G,K)
  at::Tensor flat = knn.reshape({B, num_group * group_size, 1}).expand({B, num_group * group_size, 3});
  at::Tensor nb = xyz.gather(1, flat).reshape({B, num_group, group_size, 3});
  return {nb - centers.unsqueeze(2), centers};
}

}  // namespace ibllm::models
