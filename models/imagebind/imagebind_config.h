// Typed configuration of the ImageBind encoders (spec §1.1, §1.3, §1.5) and the Point-Bind branch
// (§7.3). Member initialisers are the ImageBind-Huge / imagebind_w3D values; `preset: tiny` swaps
// in the small dims the golden tests use (tests/golden/gen/imagebind_make_fixtures.py). Only the
// modalities listed in `modalities` are built (nothing else is allocated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/core/modality.h"

namespace ibllm::config {
class Section;
}

namespace ibllm::models {

// One transformer modality (vision, text, audio, depth, thermal, imu).
struct ModalityConfig {
  int64_t embed_dim = 0;
  int64_t num_blocks = 0;
  int64_t num_heads = 0;
  int64_t mlp_ratio = 4;
  bool add_bias_kv = false;
  // Stem geometry. vision: in_channels 3, input_size [H,W], kernel_size [T,kh,kw] (T = frames of
  // a clip); audio/depth/thermal: in_channels 1, input_size [H,W], kernel_size [k], stride [s];
  // imu: in_channels 6, input_size [samples], kernel_size [window]. Unused for text.
  int64_t in_channels = 0;
  std::vector<int64_t> input_size;
  std::vector<int64_t> kernel_size;
  std::vector<int64_t> stride;
  // text only
  int64_t vocab_size = 0;
  int64_t context_length = 0;
  // Postprocessor: x / |x| * min(logit_scale, 100). Fixed buffer, or a learnable parameter
  // (text). Vision has no scale (logit_scale 1, no state-dict entry).
  double logit_scale = 1.0;
  bool learnable_logit_scale = false;
};

// Point-BERT encoder + projection (spec §7.3).
struct PointConfig {
  int64_t trans_dim = 384;
  int64_t depth = 12;
  int64_t num_heads = 6;
  int64_t group_size = 32;
  int64_t num_group = 512;
  int64_t encoder_dims = 256;
  // mini-PointNet widths: first_conv 3->conv1_dim->conv2_dim, second_conv 2*conv2_dim->conv3_dim
  int64_t conv1_dim = 128;
  int64_t conv2_dim = 256;
  int64_t conv3_dim = 512;
  int64_t pos_hidden_dim = 128;
  int64_t proj_dim = 512;  // pc_projection (2*trans_dim, proj_dim); point head input
};

ModalityConfig imagebind_huge_modality(core::Modality m);

struct ImageBindConfig {
  // Tower names (core::tower_names(); the state-dict keys of spec §1.1).
  std::vector<std::string> modalities = core::tower_names();
  int64_t out_dim = 1024;
  // Still images through the exact Conv2d equivalent of the 2-frame Conv3d stem (sum of the
  // temporal kernel slices); false runs the reference repeat-to-2-frames Conv3d.
  bool image_conv2d_stem = true;
  ModalityConfig vision = imagebind_huge_modality(core::Modality::kVision);
  ModalityConfig text = imagebind_huge_modality(core::Modality::kText);
  ModalityConfig audio = imagebind_huge_modality(core::Modality::kAudio);
  ModalityConfig depth = imagebind_huge_modality(core::Modality::kDepth);
  ModalityConfig thermal = imagebind_huge_modality(core::Modality::kThermal);
  ModalityConfig imu = imagebind_huge_modality(core::Modality::kImu);
  PointConfig point;

  bool has(const std::string& modality) const;
  // The transformer config of a tower (vision/video, text, audio, depth, thermal, imu); throws
  // ModelError for point (its own PointConfig) and for unknown names.
  const ModalityConfig& modality(const std::string& name) const;
  ModalityConfig& modality(const std::string& name);
  ModalityConfig& modality(core::Modality m);
};

ImageBindConfig imagebind_huge_config();
// Small dims for CPU golden tests (must match imagebind_make_fixtures.py TINY).
ImageBindConfig imagebind_tiny_config();

// Throws ModelError naming the first inconsistency (heads not dividing dims, bad stem geometry,
// unknown modality).
void validate_imagebind_config(const ImageBindConfig& c);

// YAML: `preset: huge|tiny` (read first), then any field of ImageBindConfig / per-modality
// sections (`vision: {embed_dim: ...}`, `point: {...}`) overriding the preset.
ImageBindConfig parse_imagebind_config(config::Section s);

}  // namespace ibllm::models
