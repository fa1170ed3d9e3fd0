// Rotary position embedding, Meta convention (spec §2.2): the pair (x[2i], x[2i+1]) is rotated by
// the angle p·θ^(-2i/hd) as a complex number. Angles, cos/sin and the rotation run in fp32 and the
// result is cast back. Positions are given per sequence, so left-padded batches rotate every
// sequence from its own position 0.
#pragma once

#include <ATen/ATen.h>

namespace ibllm::models {

// positions (S) or (B,S) int64 -> angles (S, hd/2) or (B, S, hd/2), fp32 on positions' device.
at::Tensor rope_angles(const at::Tensor& positions, int64_t head_dim, double theta);

// x (B,S,H,hd), angles (S,hd/2) or (B,S,hd/2) -> rotated x, same shape and dtype.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& angles);

}  // namespace ibllm::models
