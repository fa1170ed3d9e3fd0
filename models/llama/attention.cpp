// Attention forward (projections, RoPE, cache, attend, adapter injection, output projection) and
// the single attention function. The math path follows the reference exactly: scores in the
// activation dtype divided by sqrt(hd), masked with -inf, softmax in fp32, cast back, times V.
#include "models/llama/attention.h"

#include <cmath>
#include <limits>

#include "models/kernels/fused_ops.h"
#include "models/llama/peft.h"
#include "src/core/error.h"

namespace ibllm::models {

AttentionBackend resolve_attention_backend(AttentionChoice choice) {
  return choice == AttentionChoice::kMath ? AttentionBackend::kMath : AttentionBackend::kSdpa;
}

at::Tensor repeat_kv_heads(const at::Tensor& t, int64_t n_heads) {
  // query head h reads kv head h / (H/Hkv)
  const int64_t kv_heads = t.size(1), rep = n_heads / kv_heads;
  if (rep == 1) return t;
  const int64_t B = t.size(0), T = t.size(2), hd = t.size(3);
  return t.unsqueeze(2).expand({B, kv_heads, rep, T, hd}).reshape({B, n_heads, T, hd});
}

at::Tensor attention_mask(int64_t S, int64_t offset, const at::Tensor& key_valid,
                          const at::Device& device) {
  // allowed[b,0,i,j] = j <= offset+i && (key_valid[b,j] || j == offset+i) -> (B|1,1,S,T)
  if (S == 1 && !key_valid.defined()) return at::Tensor();
  const int64_t T = offset + S;
  auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  auto qpos = (at::arange(S, opts) + offset).unsqueeze(1);  // (S,1)
  auto kpos = at::arange(T, opts).unsqueeze(0);             // (1,T)
  auto allowed = kpos.le(qpos);                             // (S,T)
  if (!key_valid.defined()) return allowed.unsqueeze(0).unsqueeze(0);
  TORCH_CHECK(key_valid.size(1) == T, "attention_mask: key_valid has ", key_valid.size(1),
              " columns for ", T, " keys");
  auto valid = key_valid.to(device).unsqueeze(1);  // (B,1,T)
  auto self = kpos.eq(qpos).unsqueeze(0);          // (1,S,T)
  return allowed.unsqueeze(0).logical_and(valid.logical_or(self)).unsqueeze(1);
}

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const at::Tensor& mask, bool causal, AttentionBackend backend) {
  // q (B,H,S,hd), k/v (B,Hkv,T,hd) -> (B,H,S,hd)
  TORCH_CHECK(!mask.defined() || (mask.size(-2) == q.size(2) && mask.size(-1) == k.size(2)),
              "attend: mask ", mask.sizes(), " for ", q.size(2), " queries and ", k.size(2),
              " keys");
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, "attend: ", q.size(1),
              " query heads for ", k.size(1), " key/value heads");
  if (backend == AttentionBackend::kSdpa) {
    // enable_gqa: SDPA maps query head h to kv head h / (H/Hkv) itself (no repeated K/V copy).
    const bool gqa = k.size(1) != q.size(1);
    std::optional<at::Tensor> m;  // an undefined Tensor inside the optional is an error
    if (!causal && mask.defined()) m = mask;
    return at::scaled_dot_product_attention(q, k, v, m, 0.0, /*is_causal=*/causal, std::nullopt,
                                            gqa);
  }
  const auto k_all = repeat_kv_heads(k, q.size(1));
  const auto v_all = repeat_kv_heads(v, q.size(1));
  auto scores = at::matmul(q, k_all.transpose(2, 3)) / std::sqrt(static_cast<double>(q.size(3)));
  auto scores32 = scores.to(at::kFloat);
  if (mask.defined())
    scores32 = scores32.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  auto probs = at::softmax(scores32, -1).to(q.scalar_type());
  return at::matmul(probs, v_all);
}

AttentionImpl::AttentionImpl(const LlamaConfig& cfg, const at::TensorOptions& options)
    : n_heads_(cfg.n_heads),
      n_kv_heads_(cfg.kv_heads()),
      head_dim_(cfg.head_dim()),
      lora_scale_(cfg.lora_scale()),
      backend_(resolve_attention_backend(cfg.attention)),
      fused_(cfg.fused_kernels) {
  const int64_t D = cfg.dim, q_dim = n_heads_ * head_dim_, kv_dim = n_kv_heads_ * head_dim_;
  auto delta = options.dtype(at::kFloat);
  if (cfg.gated_injection) gate = register_parameter("gate", at::zeros({1, n_heads_, 1, 1}, delta));
  wq = register_module("wq", Dense(D, q_dim, cfg.w_bias, options, at::kFloat));
  wk = register_module("wk", Dense(D, kv_dim, false, options));
  wv = register_module("wv", Dense(D, kv_dim, false, options));
  wo = register_module("wo", Dense(q_dim, D, cfg.w_bias, options, at::kFloat));
  if (cfg.w_lora) {
    const int64_t r = cfg.lora_rank;
    register_lora_pair(*this, "wq", D, q_dim, r, delta, lora_wq_l1, lora_wq_l2);
    register_lora_pair(*this, "wk", D, kv_dim, r, delta, lora_wk_l1, lora_wk_l2);
    register_lora_pair(*this, "wv", D, kv_dim, r, delta, lora_wv_l1, lora_wv_l2);
    register_lora_pair(*this, "wo", q_dim, D, r, delta, lora_wo_l1, lora_wo_l2);
  }
}

void AttentionImpl::reset_parameters() {
  for (auto* d : {&wq, &wk, &wv, &wo}) (*d)->reset_parameters();
}

void AttentionImpl::reset_delta_parameters() {
  at::NoGradGuard guard;
  if (gate.defined()) gate.zero_();
  if (wq->bias.defined()) wq->bias.zero_();
  if (wo->bias.defined()) wo->bias.zero_();
  reset_lora_pair(lora_wq_l1, lora_wq_l2);
  reset_lora_pair(lora_wk_l1, lora_wk_l2);
  reset_lora_pair(lora_wv_l1, lora_wv_l2);
  reset_lora_pair(lora_wo_l1, lora_wo_l2);
}

void AttentionImpl::merge_lora() {
  merge_lora_pair(wq, lora_wq_l1, lora_wq_l2, lora_scale_);
  merge_lora_pair(wk, lora_wk_l1, lora_wk_l2, lora_scale_);
  merge_lora_pair(wo, lora_wo_l1, lora_wo_l2, lora_scale_);
}

at::Tensor AttentionImpl::rope(const at::Tensor& x, const RopeTable& table) const {
  return fused_applies(fused_, x) ? fused_rope(x, table.cos, table.sin) : apply_rope(x, table);
}

at::Tensor AttentionImpl::split_heads(const at::Tensor& t, int64_t heads) const {
  return t.view({t.size(0), t.size(1), heads, head_dim_});
}

at::Tensor AttentionImpl::repeat_kv(const at::Tensor& t) const {
  return repeat_kv_heads(t, n_heads_);
}

AdapterTerm AttentionImpl::prepare_adapter(const at::Tensor& a) {
  // a (B|1,L,D) -> AdapterTerm
  if (!gate.defined())
    throw ModelError("an adapter input was given to a LLaMA built without gates",
                     "set model.llama.gated_injection: true");
  TORCH_CHECK(a.dim() == 3 && a.size(2) == wv->in_features(), "adapter input must be (B,L,",
              wv->in_features(), "), got ", a.sizes());
  auto x = as_dtype_of(a, wv->weight);
  const int64_t L = x.size(1);
  auto g = at::tanh(gate);                                                        // (1,H,1,1) fp32
  auto va = repeat_kv(split_heads(wv->forward(x), n_kv_heads_).transpose(1, 2));  // (B,H,L,hd)
  AdapterTerm term;
  if (L == 1) {
    term.value = (g * va.to(at::kFloat)).to(va.scalar_type());
  } else {
    term.value = va;
    term.key = repeat_kv(split_heads(wk->forward(x), n_kv_heads_).transpose(1, 2));
    term.gate = g.to(va.scalar_type());
  }
  return term;
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const AttentionContext& ctx,
                                  const AdapterTerm& adapter) {
  // x (B,S,D) -> (B,S,D)
  const int64_t B = x.size(0), S = x.size(1);
  auto q = split_heads(project(x, wq, lora_wq_l1, lora_wq_l2, lora_scale_), n_heads_);
  auto k = split_heads(project(x, wk, lora_wk_l1, lora_wk_l2, lora_scale_), n_kv_heads_);
  auto v = split_heads(project(x, wv, lora_wv_l1, lora_wv_l2, lora_scale_), n_kv_heads_);
  q = rope(q, ctx.rope).transpose(1, 2);  // (B,H,S,hd)
  k = rope(k, ctx.rope).transpose(1, 2);  // (B,Hkv,S,hd)
  v = v.transpose(1, 2);
  if (ctx.cache != nullptr) {
    TORCH_CHECK(ctx.offset + S <= ctx.cache->k.size(2), "KV cache full: ", ctx.offset + S,
                " positions for a capacity of ", ctx.cache->k.size(2));
    ctx.cache->k.narrow(2, ctx.offset, S).copy_(k);
    ctx.cache->v.narrow(2, ctx.offset, S).copy_(v);
    k = ctx.cache->k.narrow(2, 0, ctx.offset + S);
    v = ctx.cache->v.narrow(2, 0, ctx.offset + S);
  } else {
    TORCH_CHECK(ctx.offset == 0, "attention without a cache must start at position 0");
  }
  auto out = attend(q, k, v, ctx.mask, ctx.causal, backend_);
  if (adapter.defined()) {
    if (!adapter.key.defined()) {
      out = out + adapter.value;  // same vector for every query position (attention-free)
    } else {
      auto s =
          at::matmul(q, adapter.key.transpose(2, 3)) / std::sqrt(static_cast<double>(head_dim_));
      auto p = at::softmax(s.to(at::kFloat), -1).to(q.scalar_type());
      out = out + at::matmul(adapter.gate * p, adapter.value);
    }
  }
  out = out.transpose(1, 2).reshape({B, S, n_heads_ * head_dim_});
  return project(out, wo, lora_wo_l1, lora_wo_l2, lora_scale_);
}

}  // namespace ibllm::models
