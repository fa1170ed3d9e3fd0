// Configuration of the bind network (spec §3.2) and of the modality mixing that feeds it (§3.1).
// Torch-free so the CLI and config checks include it cheaply. Zero widths mean "derive from the
// towers": in_dim = ImageBind out_dim, dim = LLaMA dim, hidden_dim = 4·dim (no 2/3 rule).
#pragma once

#include <cstdint>
#include <string>

namespace ibllm::config {
class Section;
}

namespace ibllm::models {

struct BindConfig {
  int64_t in_dim = 0;      // ImageBind embedding width (0: imagebind.out_dim)
  int64_t dim = 0;         // LLaMA width (0: llama.dim)
  int64_t hidden_dim = 0;  // SwiGLU width of each block (0: 4·dim, the reference)
  int64_t n_blocks = 3;
  bool legacy = false;     // legacy_bridge (7B-beta.pth): LayerNorm(eps 1e-5)+bias, biased linears
  double norm_eps = 1e-6;  // RMSNorm eps of the stable variant

  int64_t hidden() const { return hidden_dim > 0 ? hidden_dim : 4 * dim; }
};

// Spec §3.1 step 2 and §9.13: weights w_m / (Σw + eps); the mix is not renormalised by default.
struct MixingConfig {
  double weight_eps = 1e-6;
  bool renormalize = false;  // true: L2-normalise the mixed vector (deviation from the reference)
};

BindConfig parse_bind_config(config::Section s);
MixingConfig parse_mixing_config(config::Section s);

}  // namespace ibllm::models
