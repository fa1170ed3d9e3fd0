// Flat communication buckets: tensors grouped by (dtype, device) into buckets of at most
// `bucket_bytes` (a larger tensor gets a bucket of its own), in the order given. Every rank plans
// from the same ordered list and so gets the same plan: that is what keeps collectives matched.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ibllm::dist {

struct Bucket {
  at::ScalarType dtype = at::kFloat;  // of the member tensors
  at::Device device = at::Device(at::kCPU);
  std::vector<size_t> members;   // indices into the planned list, in order
  std::vector<int64_t> offsets;  // element offset of each member in the flat buffer
  int64_t numel = 0;
};

std::vector<Bucket> plan_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes);

// Member k's place in `flat`, viewed with the member's shape `sizes`.
at::Tensor bucket_slot(const Bucket& b, const at::Tensor& flat, size_t k, at::IntArrayRef sizes);

// Copies the members into `flat` (any dtype: converted) / back out of it.
void pack_bucket(const Bucket& b, const std::vector<at::Tensor>& tensors, at::Tensor& flat);
void unpack_bucket(const Bucket& b, const at::Tensor& flat, const std::vector<at::Tensor>& tensors);

}  // namespace ibllm::dist
