// Fused RoPE: one thread per interleaved pair, the rotation in fp32 with explicitly rounded
// multiplies and adds (no FMA contraction) so an fp32 input gives exactly the reference's
// `re·cos − im·sin, re·sin + im·cos`. The backward is the same kernel rotating by −angle.
#include "models/kernels/kernel_common.cuh"

namespace ibllm::kernels {
namespace {

using detail::from_f;
using detail::to_f;

constexpr int kThreads = 256;

template <class T>
__global__ void rope_kernel(const T* __restrict__ x, const float* __restrict__ cos,
                            const float* __restrict__ sin, T* __restrict__ y, int64_t pairs,
                            int64_t seq, int64_t heads, int64_t half, bool table_per_batch,
                            float sign) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < pairs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = i % half, bsh = i / half;  // pair index, (b, s, h) row
    const int64_t s = (bsh / heads) % seq, b = bsh / (heads * seq);
    const int64_t t = ((table_per_batch ? b : 0) * seq + s) * half + p;
    const float c = cos[t], sn = sign * sin[t];
    const float re = to_f(x[2 * i]), im = to_f(x[2 * i + 1]);
    y[2 * i] = from_f<T>(__fsub_rn(__fmul_rn(re, c), __fmul_rn(im, sn)));
    y[2 * i + 1] = from_f<T>(__fadd_rn(__fmul_rn(re, sn), __fmul_rn(im, c)));
  }
}

template <class T>
const char* rope_as(const void* x, const float* cos, const float* sin, void* y, int64_t batch,
                    int64_t seq, int64_t heads, int64_t half, bool per_batch, bool inverse,
                    cudaStream_t s) {
  const int64_t pairs = batch * seq * heads * half;
  if (pairs == 0) return nullptr;
  rope_kernel<T><<<detail::grid_for(pairs, kThreads), kThreads, 0, s>>>(
      static_cast<const T*>(x), cos, sin, static_cast<T*>(y), pairs, seq, heads, half, per_batch,
      inverse ? -1.f : 1.f);
  return detail::launch_status();
}

}  // namespace

const char* launch_rope(ElemType type, const void* x, const float* cos, const float* sin, void* y,
                        int64_t batch, int64_t seq, int64_t heads, int64_t half,
                        bool table_per_batch, bool inverse, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (type == ElemType::kFloat32)
    return rope_as<float>(x, cos, sin, y, batch, seq, heads, half, table_per_batch, inverse, s);
  return rope_as<__nv_bfloat16>(x, cos, sin, y, batch, seq, heads, half, table_per_batch, inverse,
                                s);
}

}  // namespace ibllm::kernels
