// Fused SwiGLU gate silu(a)·b, forward and backward, one element per thread (grid-stride). The
// forward rounds silu(a) to the element type before the product, as the reference's two ops do;
// the backward reads a and b once and writes both gradients (the reference runs four kernels).
#include "models/kernels/kernel_common.cuh"

namespace ibllm::kernels {
namespace {

using detail::from_f;
using detail::round_to;
using detail::to_f;

constexpr int kThreads = 256;

template <class T>
__global__ void swiglu_forward_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                      T* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float av = to_f(a[i]);
    const float silu = round_to<T>(av / (1.f + expf(-av)));
    y[i] = from_f<T>(silu * to_f(b[i]));
  }
}

template <class T>
__global__ void swiglu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ a,
                                       const T* __restrict__ b, T* __restrict__ da,
                                       T* __restrict__ db, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float av = to_f(a[i]), bv = to_f(b[i]), g = to_f(dy[i]);
    const float sig = 1.f / (1.f + expf(-av));
    da[i] = from_f<T>(g * bv * sig * (1.f + av * (1.f - sig)));
    db[i] = from_f<T>(g * round_to<T>(av * sig));
  }
}

}  // namespace

const char* launch_swiglu_forward(ElemType type, const void* a, const void* b, void* y, int64_t n,
                                  void* stream) {
  if (n == 0) return nullptr;
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned grid = detail::grid_for(n, kThreads);
  if (type == ElemType::kFloat32)
    swiglu_forward_kernel<float><<<grid, kThreads, 0, s>>>(
        static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y), n);
  else
    swiglu_forward_kernel<__nv_bfloat16><<<grid, kThreads, 0, s>>>(
        static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b),
        static_cast<__nv_bfloat16*>(y), n);
  return detail::launch_status();
}

const char* launch_swiglu_backward(ElemType type, const void* dy, const void* a, const void* b,
                                   void* da, void* db, int64_t n, void* stream) {
  if (n == 0) return nullptr;
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned grid = detail::grid_for(n, kThreads);
  if (type == ElemType::kFloat32)
    swiglu_backward_kernel<float><<<grid, kThreads, 0, s>>>(
        static_cast<const float*>(dy), static_cast<const float*>(a), static_cast<const float*>(b),
        static_cast<float*>(da), static_cast<float*>(db), n);
  else
    swiglu_backward_kernel<__nv_bfloat16><<<grid, kThreads, 0, s>>>(
        static_cast<const __nv_bfloat16*>(dy), static_cast<const __nv_bfloat16*>(a),
        static_cast<const __nv_bfloat16*>(b), static_cast<__nv_bfloat16*>(da),
        static_cast<__nv_bfloat16*>(db), n);
  return detail::launch_status();
}

}  // namespace ibllm::kernels
