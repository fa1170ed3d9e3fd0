// Fused RMSNorm forward and backward: one block per row, the row's sum of squares reduced in fp32,
// the reciprocal RMS kept for the backward (rows × 4 bytes instead of the reference's fp32 copy of
// x). The weight gradient is deterministic: each block accumulates its rows into its own row of
// dw_partial (no atomics), the launcher sums the partial rows.
#include "models/kernels/kernel_common.cuh"

namespace ibllm::kernels {
namespace {

using detail::from_f;
using detail::round_to;
using detail::to_f;

constexpr int kThreads = 256;
constexpr int64_t kMaxBackwardBlocks = 1024;

template <class T, class W>
__global__ void rms_norm_forward_kernel(const T* __restrict__ x, const W* __restrict__ w,
                                        T* __restrict__ y, float* __restrict__ rstd, int64_t dim,
                                        float eps) {
  __shared__ float scratch[32];
  const T* xr = x + blockIdx.x * dim;
  T* yr = y + blockIdx.x * dim;
  float ss = 0.f;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const float v = to_f(xr[c]);
    ss += v * v;
  }
  ss = detail::block_sum(ss, scratch);
  const float r = rsqrtf(ss / static_cast<float>(dim) + eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = r;
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    const float n = round_to<T>(to_f(xr[c]) * r);   // reference: normed.to(x dtype)
    yr[c] = from_f<T>(n * round_to<T>(to_f(w[c])));  // × weight cast to x's dtype
  }
}

template <class T, class W>
__global__ void rms_norm_backward_kernel(const T* __restrict__ dy, const T* __restrict__ x,
                                         const W* __restrict__ w, const float* __restrict__ rstd,
                                         T* __restrict__ dx, float* __restrict__ dw_partial,
                                         int64_t rows, int64_t dim) {
  __shared__ float scratch[32];
  float* dw_row = dw_partial != nullptr ? dw_partial + blockIdx.x * dim : nullptr;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* dyr = dy + row * dim;
    const T* xr = x + row * dim;
    T* dxr = dx + row * dim;
    const float r = rstd[row];
    // n = x·r, dn = dy·w: dx = r·dn − x·r³·Σ(dn·x)/dim
    float dot = 0.f;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x)
      dot += to_f(dyr[c]) * round_to<T>(to_f(w[c])) * to_f(xr[c]);
    dot = detail::block_sum(dot, scratch);
    const float k = dot * r * r * r / static_cast<float>(dim);
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
      const float xv = to_f(xr[c]), g = to_f(dyr[c]);
      dxr[c] = from_f<T>(r * g * round_to<T>(to_f(w[c])) - k * xv);
      if (dw_row != nullptr) dw_row[c] += g * round_to<T>(xv * r);
    }
  }
}

template <class T, class W>
const char* forward_as(const void* x, const void* w, void* y, float* rstd, int64_t rows,
                       int64_t dim, float eps, cudaStream_t s) {
  if (rows == 0) return nullptr;
  rms_norm_forward_kernel<T, W><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      static_cast<const T*>(x), static_cast<const W*>(w), static_cast<T*>(y), rstd, dim, eps);
  return detail::launch_status();
}

template <class T, class W>
const char* backward_as(const void* dy, const void* x, const void* w, const float* rstd, void* dx,
                        float* dw_partial, int64_t rows, int64_t dim, cudaStream_t s) {
  if (rows == 0) return nullptr;
  rms_norm_backward_kernel<T, W>
      <<<static_cast<unsigned>(rms_norm_backward_blocks(rows)), kThreads, 0, s>>>(
          static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const W*>(w), rstd,
          static_cast<T*>(dx), dw_partial, rows, dim);
  return detail::launch_status();
}

}  // namespace

int64_t rms_norm_backward_blocks(int64_t rows) {
  return rows < kMaxBackwardBlocks ? (rows > 0 ? rows : 1) : kMaxBackwardBlocks;
}

const char* launch_rms_norm_forward(ElemType x_type, ElemType w_type, const void* x, const void* w,
                                    void* y, float* rstd, int64_t rows, int64_t dim, float eps,
                                    void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (x_type == ElemType::kFloat32) {
    if (w_type != ElemType::kFloat32) return "rms_norm: fp32 input needs an fp32 weight";
    return forward_as<float, float>(x, w, y, rstd, rows, dim, eps, s);
  }
  if (w_type == ElemType::kFloat32)
    return forward_as<__nv_bfloat16, float>(x, w, y, rstd, rows, dim, eps, s);
  return forward_as<__nv_bfloat16, __nv_bfloat16>(x, w, y, rstd, rows, dim, eps, s);
}

const char* launch_rms_norm_backward(ElemType x_type, ElemType w_type, const void* dy,
                                     const void* x, const void* w, const float* rstd, void* dx,
                                     float* dw_partial, int64_t rows, int64_t dim, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (x_type == ElemType::kFloat32) {
    if (w_type != ElemType::kFloat32) return "rms_norm: fp32 input needs an fp32 weight";
    return backward_as<float, float>(dy, x, w, rstd, dx, dw_partial, rows, dim, s);
  }
  if (w_type == ElemType::kFloat32)
    return backward_as<__nv_bfloat16, float>(dy, x, w, rstd, dx, dw_partial, rows, dim, s);
  return backward_as<__nv_bfloat16, __nv_bfloat16>(dy, x, w, rstd, dx, dw_partial, rows, dim, s);
}

}  // namespace ibllm::kernels
