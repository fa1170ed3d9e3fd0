// LLaMA self-attention with the ImageBind-LLM additions (spec §2.2, §3.3, §3.4, §5.3): optional
// bias/LoRA deltas, grouped-query heads, a KV cache, and the per-layer gated injection of the
// adapter input (attention-free `tanh(gate)·Wv a` for one adapter token, gated softmax over the
// adapter keys for several). All score/softmax work goes through attend(), the one attention
// function: at::scaled_dot_product_attention on LibTorch >= 2, an exact fp32-softmax path
// otherwise.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/llama/config.h"
#include "models/common/dense.h"
#include "models/llama/rope.h"

namespace ibllm::models {

enum class AttentionBackend { kMath, kSdpa };
// kAuto and kSdpa resolve to kSdpa (at::scaled_dot_product_attention), kMath to kMath.
AttentionBackend resolve_attention_backend(AttentionChoice choice);

// t (B,Hkv,T,hd) -> (B,n_heads,T,hd): query head h reads kv head h / (n_heads/Hkv).
at::Tensor repeat_kv_heads(const at::Tensor& t, int64_t n_heads);

// Which keys S new queries may see when they sit at columns [offset, offset+S) of T = offset+S
// keys: j <= offset+i, and key j not padding (key_valid (B,T) bool, or undefined: none). A padded
// query still sees itself, so no row is empty. -> (B|1,1,S,T) bool, or undefined when nothing is
// masked (one new token, no padding).
at::Tensor attention_mask(int64_t S, int64_t offset, const at::Tensor& key_valid,
                          const at::Device& device);

// q (B,H,S,hd), k/v (B,Hkv,T,hd) with Hkv dividing H (grouped-query attention), mask from
// attention_mask() (true = attend) or undefined.
// `causal`: the mask is the plain causal one (T == S, no padding), so SDPA may use is_causal and
// its fused kernels. -> (B,H,S,hd)
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const at::Tensor& mask, bool causal, AttentionBackend backend);

// One layer's adapter input, prepared once per request (spec §3.3 "Optimisation").
struct AdapterTerm {
  at::Tensor value;  // L=1: tanh(gate)·V_a (B|1,H,1,hd); L>1: V_a (B|1,H,L,hd); activation dtype
  at::Tensor key;    // L>1 only: K_a (B|1,H,L,hd), base Wk, no RoPE
  at::Tensor gate;   // L>1 only: tanh(gate) (1,H,1,1)
  bool defined() const { return value.defined(); }
};

// One layer's cache, (B, Hkv, capacity, hd) each; keys are stored after RoPE.
struct LayerKV {
  at::Tensor k;
  at::Tensor v;
};

// Everything a layer needs besides its input, computed once per forward: RoPE cos/sin of the new
// tokens, where they start, the attention mask, and (decoding) the layer's cache.
struct AttentionContext {
  RopeTable rope;
  int64_t offset = 0;   // absolute column of the first new token
  at::Tensor mask;      // attention_mask() result or undefined
  bool causal = false;  // mask is the plain causal mask
  LayerKV* cache = nullptr;
};

class AttentionImpl : public torch::nn::Module {
 public:
  // `options`: dtype/device of the base weights; deltas and the gate are fp32 on that device.
  AttentionImpl(const LlamaConfig& cfg, const at::TensorOptions& options = at::kFloat);
  void reset_parameters();        // base weights only (deltas: reset_delta_parameters)
  void reset_delta_parameters();  // biases 0, LoRA A default / B 0, gate 0

  // a (B|1, L, D) -> the layer's AdapterTerm (uses base Wv/Wk only: no LoRA, no bias).
  AdapterTerm prepare_adapter(const at::Tensor& a);
  // x (B,S,D) normalised input -> (B,S,D)
  at::Tensor forward(const at::Tensor& x, const AttentionContext& ctx,
                     const AdapterTerm& adapter = {});
  // W ← W + s·B·A for wq, wk, wo; never wv (the adapter path needs the base Wv).
  void merge_lora();

  at::Tensor gate;  // (1,H,1,1), present when cfg.gated_injection
  Dense wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
  Dense lora_wq_l1{nullptr}, lora_wq_l2{nullptr}, lora_wk_l1{nullptr}, lora_wk_l2{nullptr};
  Dense lora_wv_l1{nullptr}, lora_wv_l2{nullptr}, lora_wo_l1{nullptr}, lora_wo_l2{nullptr};

 private:
  at::Tensor split_heads(const at::Tensor& t, int64_t heads) const;  // (B,S,h·hd) -> (B,S,h,hd)
  at::Tensor rope(const at::Tensor& x, const RopeTable& table) const;  // fused or apply_rope
  at::Tensor repeat_kv(const at::Tensor& t) const;                   // (B,Hkv,T,hd) -> (B,H,T,hd)

  int64_t n_heads_, n_kv_heads_, head_dim_;
  double lora_scale_;
  AttentionBackend backend_;
  FusedKernels fused_;
};
TORCH_MODULE(Attention);

}  // namespace ibllm::models
