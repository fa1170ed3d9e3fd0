// Autograd wrappers and launch glue of the fused kernels (see fused_ops.h): shape/dtype checks with
// the op's name, contiguous inputs, the tensor's device made current, the kernels enqueued on the
// current CUDA stream, and a CUDA error turned into a ModelError naming the kernel.
#include "models/kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <string>

#include "src/core/error.h"

#if IBLLM_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "models/kernels/kernel_launchers.h"
#endif

namespace ibllm::models {

bool fused_kernels_built() { return IBLLM_WITH_CUDA != 0; }

bool fused_applies(FusedKernels mode, const at::Tensor& x) {
  if (mode == FusedKernels::kOff || !fused_kernels_built() || !x.defined() || !x.is_cuda())
    return false;
  return x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16;
}

#if IBLLM_WITH_CUDA
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;
using kernels::ElemType;

ElemType elem_type(const at::Tensor& t, const char* op) {
  if (t.scalar_type() == at::kFloat) return ElemType::kFloat32;
  if (t.scalar_type() == at::kBFloat16) return ElemType::kBFloat16;
  throw ModelError(std::string(op) + ": fused kernel got a " + c10::toString(t.scalar_type()) +
                       " tensor; it supports float32 and bfloat16",
                   "set model.llama.fused_kernels: off for this precision");
}

void check_cuda(const at::Tensor& t, const char* op, const char* name) {
  if (!t.is_cuda())
    throw ModelError(std::string(op) + ": fused kernel input '" + name + "' is on " +
                     t.device().str() + ", not a CUDA device");
}

void check_launch(const char* err, const char* kernel) {
  if (err != nullptr)
    throw ModelError(std::string("CUDA kernel ") + kernel + " failed: " + err,
                     "rerun with model.llama.fused_kernels: off to use the reference ops");
}

void* stream_of(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.get_device()).stream();
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in,
                            const at::Tensor& w_in, double eps) {
    check_cuda(x_in, "rms_norm", "x");
    check_cuda(w_in, "rms_norm", "weight");
    const int64_t dim = x_in.size(-1);
    TORCH_CHECK(w_in.dim() == 1 && w_in.size(0) == dim, "fused rms_norm: weight ", w_in.sizes(),
                " for rows of ", dim);
    const c10::cuda::CUDAGuard guard(x_in.device());
    auto x = x_in.contiguous();
    auto w = w_in.contiguous();
    auto y = at::empty_like(x);
    const int64_t rows = dim > 0 ? x.numel() / dim : 0;
    auto rstd = at::empty({rows}, x.options().dtype(at::kFloat));
    check_launch(kernels::launch_rms_norm_forward(
                     elem_type(x, "rms_norm"), elem_type(w, "rms_norm"), x.data_ptr(),
                     w.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(), rows, dim,
                     static_cast<float>(eps), stream_of(x)),
                 "rms_norm_forward");
    ctx->save_for_backward({x, w, rstd});
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    const c10::cuda::CUDAGuard guard(x.device());
    auto dy = grads[0].contiguous();
    const int64_t dim = x.size(-1), rows = rstd.numel();
    auto dx = at::empty_like(x);
    at::Tensor partial;
    if (ctx->needs_input_grad(1))
      partial = at::zeros({kernels::rms_norm_backward_blocks(rows), dim},
                          x.options().dtype(at::kFloat));
    check_launch(kernels::launch_rms_norm_backward(
                     elem_type(x, "rms_norm"), elem_type(w, "rms_norm"), dy.data_ptr(),
                     x.data_ptr(), w.data_ptr(), rstd.data_ptr<float>(), dx.data_ptr(),
                     partial.defined() ? partial.data_ptr<float>() : nullptr, rows, dim,
                     stream_of(x)),
                 "rms_norm_backward");
    at::Tensor dw = partial.defined() ? partial.sum(0).to(w.scalar_type()) : at::Tensor();
    return {dx, dw, at::Tensor()};
  }
};

struct RopeFunction : torch::autograd::Function<RopeFunction> {
  static at::Tensor run(const at::Tensor& x_in, const at::Tensor& cos, const at::Tensor& sin,
                        bool inverse) {
    const c10::cuda::CUDAGuard guard(x_in.device());
    auto x = x_in.contiguous();
    auto y = at::empty_like(x);
    check_launch(kernels::launch_rope(elem_type(x, "rope"), x.data_ptr(), cos.data_ptr<float>(),
                                      sin.data_ptr<float>(), y.data_ptr(), x.size(0), x.size(1),
                                      x.size(2), x.size(3) / 2, cos.size(0) != 1, inverse,
                                      stream_of(x)),
                 inverse ? "rope_backward" : "rope_forward");
    return y;
  }

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos_in,
                            const at::Tensor& sin_in) {
    check_cuda(x, "rope", "x");
    TORCH_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "fused rope expects (B,S,H,hd) with even hd, got ",
                x.sizes());
    const int64_t B = x.size(0), S = x.size(1), half = x.size(3) / 2;
    TORCH_CHECK(cos_in.dim() == 4 && (cos_in.size(0) == 1 || cos_in.size(0) == B) &&
                    cos_in.size(1) == S && cos_in.size(2) == 1 && cos_in.size(3) == half &&
                    cos_in.sizes() == sin_in.sizes(),
                "fused rope: table ", cos_in.sizes(), " for x ", x.sizes());
    auto cos = cos_in.to(x.device(), at::kFloat).contiguous();
    auto sin = sin_in.to(x.device(), at::kFloat).contiguous();
    ctx->save_for_backward({cos, sin});
    return run(x, cos, sin, /*inverse=*/false);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {run(grads[0], saved[0], saved[1], /*inverse=*/true), at::Tensor(), at::Tensor()};
  }
};

struct SwigluFunction : torch::autograd::Function<SwigluFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a_in, const at::Tensor& b_in) {
    check_cuda(a_in, "swiglu", "a");
    check_cuda(b_in, "swiglu", "b");
    TORCH_CHECK(a_in.sizes() == b_in.sizes() && a_in.scalar_type() == b_in.scalar_type(),
                "fused swiglu: a ", a_in.sizes(), " ", a_in.scalar_type(), " and b ",
                b_in.sizes(), " ", b_in.scalar_type(), " must match");
    const c10::cuda::CUDAGuard guard(a_in.device());
    auto a = a_in.contiguous();
    auto b = b_in.contiguous();
    auto y = at::empty_like(a);
    check_launch(kernels::launch_swiglu_forward(elem_type(a, "swiglu"), a.data_ptr(), b.data_ptr(),
                                                y.data_ptr(), a.numel(), stream_of(a)),
                 "swiglu_forward");
    ctx->save_for_backward({a, b});
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1];
    const c10::cuda::CUDAGuard guard(a.device());
    auto dy = grads[0].contiguous();
    auto da = at::empty_like(a);
    auto db = at::empty_like(b);
    check_launch(kernels::launch_swiglu_backward(elem_type(a, "swiglu"), dy.data_ptr(),
                                                 a.data_ptr(), b.data_ptr(), da.data_ptr(),
                                                 db.data_ptr(), a.numel(), stream_of(a)),
                 "swiglu_backward");
    return {da, db};
  }
};

}  // namespace

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return RmsNormFunction::apply(x, weight, eps);
}

at::Tensor fused_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return RopeFunction::apply(x, cos, sin);
}

at::Tensor fused_swiglu(const at::Tensor& a, const at::Tensor& b) {
  return SwigluFunction::apply(a, b);
}

#else  // a build without CUDA: the switch never selects them; a direct call says why

at::Tensor fused_rms_norm(const at::Tensor&, const at::Tensor&, double) {
  throw NotBuiltError("CUDA", "the fused RMSNorm kernel");
}
at::Tensor fused_rope(const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  throw NotBuiltError("CUDA", "the fused RoPE kernel");
}
at::Tensor fused_swiglu(const at::Tensor&, const at::Tensor&) {
  throw NotBuiltError("CUDA", "the fused SwiGLU kernel");
}

#endif

}  // namespace ibllm::models
