// Bucket planning, packing and unpacking; see buckets.h. A bucket is closed when the next tensor
// of its kind would overflow it; still-open buckets are closed at the end in first-seen order.
#include "src/distributed/buckets.h"

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

namespace ibllm::dist {

std::vector<Bucket> plan_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<Bucket> done;
  std::vector<Bucket> open;  // at most one per (dtype, device), in first-seen order
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    Bucket* cur = nullptr;
    for (auto& b : open)
      if (b.dtype == t.scalar_type() && b.device == t.device()) cur = &b;
    if (cur == nullptr) {
      open.push_back(Bucket{t.scalar_type(), t.device(), {}, {}, 0});
      cur = &open.back();
    }
    const int64_t elem = static_cast<int64_t>(t.element_size());
    if (!cur->members.empty() && (cur->numel + t.numel()) * elem > bucket_bytes) {
      done.push_back(*cur);
      *cur = Bucket{t.scalar_type(), t.device(), {}, {}, 0};
    }
    cur->members.push_back(i);
    cur->offsets.push_back(cur->numel);
    cur->numel += t.numel();
  }
  for (auto& b : open)
    if (!b.members.empty()) done.push_back(std::move(b));
  return done;
}

at::Tensor bucket_slot(const Bucket& b, const at::Tensor& flat, size_t k, at::IntArrayRef sizes) {
  return flat.narrow(0, b.offsets[k], c10::multiply_integers(sizes)).view(sizes);
}

void pack_bucket(const Bucket& b, const std::vector<at::Tensor>& tensors, at::Tensor& flat) {
  for (size_t k = 0; k < b.members.size(); ++k) {
    const at::Tensor& t = tensors[b.members[k]];
    bucket_slot(b, flat, k, t.sizes()).copy_(t);
  }
}

void unpack_bucket(const Bucket& b, const at::Tensor& flat, const std::vector<at::Tensor>& tensors) {
  for (size_t k = 0; k < b.members.size(); ++k) {
    const at::Tensor& t = tensors[b.members[k]];
    t.copy_(bucket_slot(b, flat, k, t.sizes()));
  }
}

}  // namespace ibllm::dist
