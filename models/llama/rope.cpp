// RoPE angles and the interleaved-pair rotation; the fp32 arithmetic mirrors the reference's
// `1/(θ^(arange(0,hd,2)/hd))`, `outer(t, freqs)`, `polar` and complex multiply.
#include "models/llama/rope.h"

namespace ibllm::models {

at::Tensor rope_angles(const at::Tensor& positions, int64_t head_dim, double theta) {
  auto opts = at::TensorOptions().dtype(at::kFloat).device(positions.device());
  auto exponent = at::arange(0, head_dim, 2, opts.dtype(at::kLong)).to(at::kFloat) /
                  static_cast<float>(head_dim);
  auto inv_freq = at::reciprocal(at::pow(at::Scalar(theta), exponent));  // (hd/2)
  return positions.to(at::kFloat).unsqueeze(-1) * inv_freq;
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& angles) {
  // x (B,S,H,hd); angles (S,hd/2) | (B,S,hd/2) -> (B,S,H,hd)
  TORCH_CHECK(x.dim() == 4, "apply_rope expects (B,S,H,hd), got ", x.sizes());
  auto a = angles.dim() == 2 ? angles.unsqueeze(0) : angles;  // (B|1,S,hd/2)
  auto cos = at::cos(a).unsqueeze(2);                          // (B|1,S,1,hd/2)
  auto sin = at::sin(a).unsqueeze(2);
  auto pairs = x.to(at::kFloat).reshape({x.size(0), x.size(1), x.size(2), -1, 2});
  auto re = pairs.select(-1, 0);
  auto im = pairs.select(-1, 1);
  auto out = at::stack({re * cos - im * sin, re * sin + im * cos}, -1).flatten(-2);
  return out.to(x.scalar_type());
}

}  // namespace ibllm::models
