// Tensor-level entry to our CUDA kernels (kernel_launchers.h): RMSNorm, RoPE and the SwiGLU gate
// as autograd functions with their own backward, for contiguous CUDA tensors of fp32 or bf16.
// The modules call fused_applies() and keep the reference ATen ops otherwise, so the CPU path is
// untouched. In a build without CUDA the functions throw NotBuiltError.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/llama/config.h"

namespace ibllm::models {

// True when this build compiled the kernels (IBLLM_WITH_CUDA).
bool fused_kernels_built();

// The switch and a tensor: mode auto|on, kernels built, x on CUDA, x fp32 or bf16.
bool fused_applies(FusedKernels mode, const at::Tensor& x);

// x (..., D) fp32|bf16, weight (D) fp32 or x's dtype -> (..., D) in x's dtype; the reference's
// rounding order (RMSNormImpl::forward). Gradients for x and (when it requires grad) weight.
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// x (B,S,H,hd), cos/sin (B|1,S,1,hd/2) fp32 (RopeTable) -> rotated x (apply_rope). Gradient for x.
at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// silu(a) · b for a, b of one shape and dtype. Gradients for both.
at::Tensor fused_swiglu(const at::Tensor& a, const at::Tensor& b);

}  // namespace ibllm::models
