// Bind network forward and init; see bind_network.h.
#include "models/bind/bind_network.h"

#include "src/core/error.h"

namespace ibllm::models {

BindNetworkImpl::BindNetworkImpl(const BindConfig& cfg, const at::TensorOptions& options)
    : cfg_(cfg) {
  if (cfg.in_dim <= 0 || cfg.dim <= 0)
    throw ModelError("bind network: in_dim and dim must be resolved before construction (got " +
                     std::to_string(cfg.in_dim) + ", " + std::to_string(cfg.dim) + ")");
  const int64_t d = cfg.dim, h = cfg.hidden();
  proj_ = Dense(cfg.in_dim, d, /*with_bias=*/true, options, DenseInit::kTorchLinear);
  named_.emplace_back("image_bind_proj", proj_.ptr());
  for (int64_t k = 1; k <= cfg.n_blocks; ++k) {
    Block b;
    const std::string s = std::to_string(k);
    if (cfg.legacy) {
      b.ln = EncoderLayerNorm(d, 1e-5, options);  // nn.LayerNorm default eps
      named_.emplace_back("image_bind_norm_" + s, b.ln.ptr());
    } else {
      b.rms = RMSNorm(d, cfg.norm_eps, options);
      named_.emplace_back("image_bind_norm_" + s, b.rms.ptr());
    }
    b.f1 = Dense(d, h, cfg.legacy, options, DenseInit::kTorchLinear);
    b.f2 = Dense(h, d, cfg.legacy, options, DenseInit::kTorchLinear);
    b.f3 = Dense(d, h, cfg.legacy, options, DenseInit::kTorchLinear);
    named_.emplace_back("image_bind_f1_" + s, b.f1.ptr());
    named_.emplace_back("image_bind_f2_" + s, b.f2.ptr());
    named_.emplace_back("image_bind_f3_" + s, b.f3.ptr());
    blocks_.push_back(b);
  }
  attach(*this);
}

void BindNetworkImpl::attach(torch::nn::Module& parent) {
  for (auto& [name, m] : named_) parent.register_module(name, m);
}

void BindNetworkImpl::reset_parameters() {
  at::NoGradGuard guard;
  // The linears were built with DenseInit::kTorchLinear: weight and bias U(-1/sqrt(in), ...).
  proj_->reset_parameters();
  for (auto& b : blocks_) {
    if (b.rms) b.rms->reset_parameters();
    if (b.ln) b.ln->reset_parameters();
    b.f1->reset_parameters();
    b.f2->reset_parameters();
    b.f3->reset_parameters();
  }
}

at::Tensor BindNetworkImpl::forward(const at::Tensor& f) {
  // f (B,in) | (B,1,in) -> (B,1,D)
  TORCH_CHECK(f.size(-1) == cfg_.in_dim, "bind network: input width ", f.size(-1), ", expected ",
              cfg_.in_dim);
  auto x = proj_->forward(f.dim() == 2 ? f.unsqueeze(1) : f);
  for (auto& b : blocks_) {
    auto n = b.rms ? b.rms->forward(x) : b.ln->forward(x);
    x = x + b.f2->forward(at::silu(b.f1->forward(n)) * b.f3->forward(n));
  }
  return x;
}

int64_t BindNetworkImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace ibllm::models
