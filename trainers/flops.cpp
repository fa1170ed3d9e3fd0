// FLOP counts and the GPU peak table (see flops.h). Peaks are NVIDIA datasheet values for dense
// math (the "with sparsity" figures halved); bf16/fp16 are tensor-core rates with fp32
// accumulation, which is what training uses (GeForce cards list double that for fp16 accumulation).
#include "trainers/flops.h"

#include "src/core/error.h"

#include <cctype>
#include <vector>

namespace ibllm::train {
namespace {

constexpr double kT = 1.0e12;

struct PeakEntry {
  std::vector<std::string> words;  // consecutive upper-case words of the device name
  std::string variant;             // an extra word that must also appear ("" = default form)
  GpuPeak peak;
};

const std::vector<PeakEntry>& peak_table() {
  static const std::vector<PeakEntry> table = {
      // Hopper. The SXM form's CUDA name is "NVIDIA H100 80GB HBM3" (no "SXM" word).
      {{"H100"}, "PCIE", {"H100 PCIe", 756.5 * kT, 756.5 * kT, 378.0 * kT, 51.2 * kT}},
      {{"H100"}, "NVL", {"H100 NVL", 835.5 * kT, 835.5 * kT, 417.5 * kT, 60.0 * kT}},
      {{"H100"}, "", {"H100 SXM", 989.4 * kT, 989.4 * kT, 494.7 * kT, 66.9 * kT}},
      {{"H200"}, "NVL", {"H200 NVL", 835.5 * kT, 835.5 * kT, 417.5 * kT, 60.0 * kT}},
      {{"H200"}, "", {"H200 SXM", 989.4 * kT, 989.4 * kT, 494.7 * kT, 66.9 * kT}},
      {{"GH200"}, "", {"GH200", 989.4 * kT, 989.4 * kT, 494.7 * kT, 66.9 * kT}},
      // Ampere / Ada data centre.
      {{"A100"}, "", {"A100", 312.0 * kT, 312.0 * kT, 156.0 * kT, 19.5 * kT}},
      {{"A40"}, "", {"A40", 149.7 * kT, 149.7 * kT, 74.8 * kT, 37.4 * kT}},
      {{"A10"}, "", {"A10", 125.0 * kT, 125.0 * kT, 62.5 * kT, 31.2 * kT}},
      {{"L40S"}, "", {"L40S", 362.05 * kT, 362.05 * kT, 183.0 * kT, 91.6 * kT}},
      {{"L40"}, "", {"L40", 181.05 * kT, 181.05 * kT, 90.5 * kT, 90.5 * kT}},
      {{"L4"}, "", {"L4", 121.0 * kT, 121.0 * kT, 60.0 * kT, 30.3 * kT}},
      // Workstation / GeForce.
      {{"RTX", "6000", "ADA"}, "", {"RTX 6000 Ada", 364.2 * kT, 364.2 * kT, 182.1 * kT, 91.1 * kT}},
      {{"RTX", "A6000"}, "", {"RTX A6000", 154.8 * kT, 154.8 * kT, 77.4 * kT, 38.7 * kT}},
      {{"RTX", "4090"}, "", {"RTX 4090", 165.2 * kT, 165.2 * kT, 82.6 * kT, 82.6 * kT}},
      {{"RTX", "3090"}, "", {"RTX 3090", 71.0 * kT, 71.0 * kT, 35.6 * kT, 35.6 * kT}},
      // Volta / Turing: no bf16 or tf32 tensor cores.
      {{"V100"}, "PCIE", {"V100 PCIe", 0.0, 112.0 * kT, 0.0, 14.0 * kT}},
      {{"V100"}, "", {"V100 SXM2", 0.0, 125.0 * kT, 0.0, 15.7 * kT}},
      {{"V100S"}, "", {"V100S PCIe", 0.0, 130.0 * kT, 0.0, 16.4 * kT}},
      {{"T4"}, "", {"T4", 0.0, 65.0 * kT, 0.0, 8.1 * kT}},
  };
  return table;
}

std::vector<std::string> upper_words(const std::string& s) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      cur += static_cast<char>(std::toupper(c));
    } else if (!cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(cur);
  return words;
}

bool contains_sequence(const std::vector<std::string>& words, const std::vector<std::string>& seq) {
  for (size_t i = 0; i + seq.size() <= words.size(); ++i) {
    size_t k = 0;
    while (k < seq.size() && words[i + k] == seq[k]) ++k;
    if (k == seq.size()) return true;
  }
  return false;
}

bool contains_word(const std::vector<std::string>& words, const std::string& w) {
  for (const auto& x : words)
    if (x == w) return true;
  return false;
}

// Multiply-adds of one Linear, counted as 2 FLOPs each.
double matmul(double in, double out) { return 2.0 * in * out; }

}  // namespace

double GpuPeak::at(Precision p) const {
  switch (p) {
    case Precision::kBf16:
      return bf16;
    case Precision::kFp16:
      return fp16;
    case Precision::kTf32:
      return tf32;
    case Precision::kFp32:
      return fp32;
  }
  return 0.0;
}

std::optional<GpuPeak> gpu_peak(const std::string& device_name) {
  const auto words = upper_words(device_name);
  // Entries for one model are listed variant-first, so the first match is the most specific.
  for (const auto& e : peak_table()) {
    if (!contains_sequence(words, e.words)) continue;
    if (!e.variant.empty() && !contains_word(words, e.variant)) continue;
    return e.peak;
  }
  return std::nullopt;
}

std::optional<double> mfu(double achieved_flops_per_s, const std::optional<GpuPeak>& peak,
                          Precision precision) {
  if (!peak) return std::nullopt;
  const double p = peak->at(precision);
  if (!(p > 0.0)) return std::nullopt;
  return achieved_flops_per_s / p;
}

double llama_train_flops_per_token(const models::LlamaConfig& c, int64_t seq_len,
                                   bool lora_trainable) {
  const double d = c.dim, kv = static_cast<double>(c.kv_heads()) * c.head_dim();
  const double h = c.ffn_hidden(), L = c.n_layers;
  // Forward FLOPs per token of the frozen matmuls: wq, wk, wv, wo; w1, w3, w2; output head.
  const double frozen_fwd =
      L * (matmul(d, d) + 2.0 * matmul(d, kv) + matmul(d, d) + 3.0 * matmul(d, h)) +
      matmul(d, c.vocab_size);
  double flops = 2.0 * frozen_fwd;  // forward + backward to activations = 4 * N_frozen
  if (c.w_lora) {
    const double r = c.lora_rank;
    const double lora_fwd = L * (2.0 * (matmul(d, r) + matmul(r, d)) +   // wq, wo
                                 2.0 * (matmul(d, r) + matmul(r, kv)) +  // wk, wv
                                 2.0 * (matmul(d, r) + matmul(r, h)) +   // w1, w3
                                 (matmul(h, r) + matmul(r, d)));         // w2
    flops += (lora_trainable ? 3.0 : 2.0) * lora_fwd;
  }
  // Attention scores and weighted values over all seq_len keys: 2 matmuls of T x hd per head.
  const double attn_fwd = L * 2.0 * matmul(static_cast<double>(seq_len), d);
  flops += 3.0 * attn_fwd;  // backward: dQ, dK from dS and dV, dP from dO
  return flops;
}

double llama_adapter_flops_per_sample(const models::LlamaConfig& c, bool adapter_trainable) {
  const double kv = static_cast<double>(c.kv_heads()) * c.head_dim();
  const double fwd = c.n_layers * matmul(c.dim, kv);
  return adapter_trainable ? 2.0 * fwd : fwd;
}

double bind_network_flops_per_sample(int64_t in_dim, int64_t dim, int64_t n_blocks,
                                     bool trainable) {
  const double proj = matmul(static_cast<double>(in_dim), static_cast<double>(dim));
  const double blocks = static_cast<double>(n_blocks) * 3.0 *
                        matmul(static_cast<double>(dim), 4.0 * static_cast<double>(dim));
  if (!trainable) return proj + blocks;
  return 3.0 * (proj + blocks) - proj;
}

double imagebind_image_flops_per_sample(const models::ImageBindConfig& c) {
  const auto& v = c.vision;
  if (v.input_size.size() != 2 || v.kernel_size.size() != 3 || v.kernel_size[1] <= 0 ||
      v.kernel_size[2] <= 0)
    throw ConfigError("ImageBind vision stem needs input_size [H,W] and kernel_size [T,kh,kw]");
  const double patches = static_cast<double>(v.input_size[0] / v.kernel_size[1]) *
                         static_cast<double>(v.input_size[1] / v.kernel_size[2]);
  const double n = patches + 1.0;  // + CLS token
  const double d = static_cast<double>(v.embed_dim), mlp = static_cast<double>(v.mlp_ratio) * d;
  const double stem =
      patches * matmul(static_cast<double>(v.in_channels * v.kernel_size[1] * v.kernel_size[2]), d);
  const double per_block = n * (4.0 * matmul(d, d) + 2.0 * matmul(d, mlp)) + 2.0 * n * matmul(n, d);
  return stem + static_cast<double>(v.num_blocks) * per_block +
         matmul(d, static_cast<double>(c.out_dim));
}

}  // namespace ibllm::train
