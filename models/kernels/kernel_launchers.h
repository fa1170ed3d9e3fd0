// Raw-pointer entry points of our CUDA kernels (RMSNorm, RoPE, SwiGLU), compiled by nvcc from the
// .cu files next to this header. Torch-free and CUDA-header-free on purpose: the .cu files include
// only this and the CUDA headers, so nvcc never parses ATen (seconds, not minutes, per file); the
// at::Tensor side (checks, streams, autograd) lives in fused_ops.cpp. Every buffer is contiguous.
// Each launcher enqueues on `stream` (a cudaStream_t) and returns nullptr, or the CUDA error text.
#pragma once

#include <cstdint>

namespace ibllm::kernels {

enum class ElemType { kFloat32, kBFloat16 };

// x, y (rows, dim) of x_type; w (dim) of w_type; rstd (rows) fp32 out. Reference order:
// n = to_x_type(float(x) · rsqrt(mean(x²) + eps)); y = n · to_x_type(w).
const char* launch_rms_norm_forward(ElemType x_type, ElemType w_type, const void* x, const void* w,
                                    void* y, float* rstd, int64_t rows, int64_t dim, float eps,
                                    void* stream);
// Blocks the backward uses: dw_partial must be a zeroed (rms_norm_backward_blocks(rows), dim) fp32
// buffer whose row sum is dL/dw; dw_partial nullptr skips the weight gradient (frozen weight).
int64_t rms_norm_backward_blocks(int64_t rows);
const char* launch_rms_norm_backward(ElemType x_type, ElemType w_type, const void* dy,
                                     const void* x, const void* w, const float* rstd, void* dx,
                                     float* dw_partial, int64_t rows, int64_t dim, void* stream);

// x, y (batch, seq, heads, 2·half) of type; cos, sin (batch or 1, seq, half) fp32. Rotates each
// interleaved pair by the angle (inverse: by its negative, which is the backward).
const char* launch_rope(ElemType type, const void* x, const float* cos, const float* sin, void* y,
                        int64_t batch, int64_t seq, int64_t heads, int64_t half,
                        bool table_per_batch, bool inverse, void* stream);

// y = to_type(silu(a)) · b over n elements (reference: at::silu then a multiply, each rounded).
const char* launch_swiglu_forward(ElemType type, const void* a, const void* b, void* y, int64_t n,
                                  void* stream);
// da = dy · b · silu'(a), db = dy · to_type(silu(a)).
const char* launch_swiglu_backward(ElemType type, const void* dy, const void* a, const void* b,
                                   void* da, void* db, int64_t n, void* stream);

}  // namespace ibllm::kernels
