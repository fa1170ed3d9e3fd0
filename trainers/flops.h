// Model FLOPs per training step and per-GPU peak throughput, for the MFU the trainer logs.
// Counting follows the usual MFU convention: 2 FLOPs per multiply-add of the matmuls only
// (norms, softmax, RoPE, element-wise ops are ignored), attention scores counted over the full
// T x T square (no causal halving). Torch-free: the peak table is looked up by the CUDA device name
// string the trainer reads from the device properties; an unknown name (or CPU) gives no MFU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "models/imagebind/imagebind_config.h"
#include "models/llama/config.h"

namespace ibllm::train {

enum class Precision { kBf16, kFp16, kTf32, kFp32 };

// Dense (no structured sparsity) tensor-core peaks from NVIDIA's datasheets, in FLOP/s.
// 0 means the GPU has no such mode (e.g. bf16 on V100/T4).
struct GpuPeak {
  std::string model;  // canonical name, e.g. "H100 SXM"
  double bf16 = 0.0;
  double fp16 = 0.0;
  double tf32 = 0.0;
  double fp32 = 0.0;  // plain CUDA-core fp32 (no TF32)
  double at(Precision p) const;
};

// Looks up the peak by a CUDA device name such as "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe",
// "NVIDIA H200", "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090", "Tesla V100-SXM2-32GB".
// Matching is by whole words (so "A10" does not match "A100" or "A10G"), case-insensitive.
std::optional<GpuPeak> gpu_peak(const std::string& device_name);

// Model FLOP utilisation in [0, 1+): achieved / peak; nullopt when the GPU or its mode is unknown.
std::optional<double> mfu(double achieved_flops_per_s, const std::optional<GpuPeak>& peak,
                          Precision precision);

// ImageBind-LLM training FLOPs per LLM token (all positions of a sample of seq_len tokens):
//   4 * N_frozen         frozen matmuls (wq wk wv wo, w1 w2 w3, output head): forward 2N, backward
//                        to activations 2N (no weight grads; the backward must reach every layer
//                        because gates / LoRA sit in all of them)
// + 6 * N_lora           LoRA matrices when the model has them and they train (fwd, act-grad,
//                        weight-grad; 4 * N_lora when frozen)
// + 12 * L * T * D       attention QK^T and AV: forward 4*T*D per layer, backward 8*T*D
// Embedding lookups are free. For LLaMA-7B N_frozen = 6.607e9, so 26.4 GFLOP + attention
// (0.15 at T = 96, 0.81 at T = 512): within 2 % of the "4 x 6.7 GFLOP ~ 27 GFLOP" estimate.
double llama_train_flops_per_token(const models::LlamaConfig& c, int64_t seq_len,
                                   bool lora_trainable = true);

// Per-sample cost of the gated adapter injection inside LLaMA (spec §3.3): Wv * a_l in every
// layer, forward 2 * D * D_kv, plus the same again backward to a_l when the adapter input trains
// (pretrain: bind network / prefix_query are trainable).
double llama_adapter_flops_per_sample(const models::LlamaConfig& c, bool adapter_trainable);

// Bind network (spec §3.2) per sample: proj in_dim -> dim, then n_blocks SwiGLU blocks with hidden
// width 4 * dim (3 matrices each). Forward 2N; trainable: + weight grads 2N + activation grads
// 2N minus the projection's (its input, the frozen ImageBind embedding, needs no grad).
double bind_network_flops_per_sample(int64_t in_dim, int64_t dim, int64_t n_blocks, bool trainable);

// Frozen ImageBind image encoder forward per image (no backward: nothing below the bind network
// trains): patch stem (C*kh*kw -> D per patch, the Conv2d form of the 2-frame stem), blocks with
// 2 * (4 D^2 + 2 * mlp_ratio * D^2) per token plus attention 4 * N * D per token, head D -> out_dim
// on the CLS token. ImageBind-Huge at 224 px (N = 257): 0.335 TFLOP, about 13 % of a 96-token
// pretrain sample, so an MFU that leaves it out undercounts when features are not precomputed.
double imagebind_image_flops_per_sample(const models::ImageBindConfig& c);

}  // namespace ibllm::train
