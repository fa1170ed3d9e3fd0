// ImageBind presets and YAML parsing. Huge values: spec §1.1 table (dims/blocks/heads/bias_kv),
// §1.3 (stems), §1.5 (scales), §7.3 (Point-BERT). The tiny preset mirrors the TINY dict of
// tests/golden/gen/imagebind_make_fixtures.py.
#include "models/imagebind/imagebind_config.h"

#include <algorithm>

#include "src/config/section.h"
#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::models {

namespace {

ModalityConfig make(int64_t dim, int64_t blocks, int64_t heads, bool bias_kv, int64_t in_ch,
                    std::vector<int64_t> size, std::vector<int64_t> kernel,
                    std::vector<int64_t> stride, double scale) {
  ModalityConfig c;
  c.embed_dim = dim;
  c.num_blocks = blocks;
  c.num_heads = heads;
  c.add_bias_kv = bias_kv;
  c.in_channels = in_ch;
  c.input_size = std::move(size);
  c.kernel_size = std::move(kernel);
  c.stride = std::move(stride);
  c.logit_scale = scale;
  return c;
}

ModalityConfig make_text(int64_t dim, int64_t blocks, int64_t heads, int64_t vocab, int64_t ctx) {
  ModalityConfig c = make(dim, blocks, heads, false, 0, {}, {}, {}, 1.0 / 0.07);
  c.vocab_size = vocab;
  c.context_length = ctx;
  c.learnable_logit_scale = true;  // init ln(1/0.07); the checkpoint holds the trained value
  return c;
}

void parse_modality(config::Section s, ModalityConfig& c, bool text) {
  s.field("embed_dim", c.embed_dim, config::at_least(1));
  s.field("num_blocks", c.num_blocks, config::at_least(0));
  s.field("num_heads", c.num_heads, config::at_least(1));
  s.field("mlp_ratio", c.mlp_ratio, config::at_least(1));
  s.field("add_bias_kv", c.add_bias_kv);
  if (text) {
    s.field("vocab_size", c.vocab_size, config::at_least(1));
    s.field("context_length", c.context_length, config::at_least(1));
  } else {
    s.field("in_channels", c.in_channels, config::at_least(1));
    s.field("input_size", c.input_size, config::at_least(1));
    s.field("kernel_size", c.kernel_size, config::at_least(1));
    s.field("stride", c.stride, config::at_least(1));
  }
  s.field("logit_scale", c.logit_scale, config::positive());
  s.field("learnable_logit_scale", c.learnable_logit_scale);
}

}  // namespace

ModalityConfig imagebind_huge_modality(core::Modality m) {
  switch (core::modality_info(m).tower) {
    case core::Modality::kVision:
      return make(1280, 32, 16, false, 3, {224, 224}, {2, 14, 14}, {}, 1.0);
    case core::Modality::kText: return make_text(1024, 24, 16, 49408, 77);
    case core::Modality::kAudio: return make(768, 12, 12, true, 1, {128, 204}, {16}, {10}, 20.0);
    case core::Modality::kDepth: return make(384, 12, 8, true, 1, {224, 224}, {16}, {16}, 5.0);
    case core::Modality::kThermal: return make(768, 12, 12, true, 1, {224, 224}, {16}, {16}, 10.0);
    case core::Modality::kImu: return make(512, 6, 8, true, 6, {2000}, {8}, {}, 5.0);
    case core::Modality::kPoint:
    case core::Modality::kVideo: break;
  }
  throw ModelError("the point tower has no transformer preset", "see PointConfig");
}

bool ImageBindConfig::has(const std::string& m) const {
  return std::find(modalities.begin(), modalities.end(), m) != modalities.end();
}

const ModalityConfig& ImageBindConfig::modality(const std::string& name) const {
  return const_cast<ImageBindConfig*>(this)->modality(name);
}

ModalityConfig& ImageBindConfig::modality(const std::string& name) {
  const auto m = core::find_modality(name);
  if (!m || *m == core::Modality::kPoint)
    throw ModelError("no transformer config for modality '" + name + "'",
                     "known: " + core::join(core::tower_names(), ", ") +
                         " (point has its own PointConfig)");
  return modality(*m);
}

ModalityConfig& ImageBindConfig::modality(core::Modality m) {
  switch (core::modality_info(m).tower) {
    case core::Modality::kVision: return vision;
    case core::Modality::kText: return text;
    case core::Modality::kAudio: return audio;
    case core::Modality::kDepth: return depth;
    case core::Modality::kThermal: return thermal;
    case core::Modality::kImu: return imu;
    case core::Modality::kPoint:
    case core::Modality::kVideo: break;
  }
  throw ModelError("no transformer config for modality '" + core::modality_name(m) + "'",
                   "point has its own PointConfig");
}

ImageBindConfig imagebind_huge_config() { return ImageBindConfig{}; }

ImageBindConfig imagebind_tiny_config() {
  ImageBindConfig c;
  c.out_dim = 16;
  c.vision = make(32, 2, 4, false, 3, {28, 28}, {2, 7, 7}, {}, 1.0);
  c.text = make_text(32, 2, 4, 64, 8);
  c.audio = make(24, 2, 3, true, 1, {16, 24}, {8}, {5}, 20.0);
  c.depth = make(16, 2, 2, true, 1, {16, 16}, {8}, {8}, 5.0);
  c.thermal = make(24, 2, 3, true, 1, {16, 16}, {8}, {8}, 10.0);
  c.imu = make(16, 2, 2, true, 6, {40}, {8}, {}, 5.0);
  PointConfig& p = c.point;
  p.trans_dim = 32;
  p.depth = 2;
  p.num_heads = 4;
  p.group_size = 8;
  p.num_group = 16;
  p.encoder_dims = 32;
  p.conv1_dim = 16;
  p.conv2_dim = 32;
  p.conv3_dim = 64;
  p.pos_hidden_dim = 16;
  p.proj_dim = 24;
  return c;
}

void validate_imagebind_config(const ImageBindConfig& c) {
  auto fail = [](const std::string& where, const std::string& what) {
    throw ModelError("imagebind." + where + ": " + what);
  };
  if (c.out_dim < 1) fail("out_dim", "must be >= 1");
  for (const auto& m : c.modalities) {
    const auto& names = core::tower_names();
    if (std::find(names.begin(), names.end(), m) == names.end())
      fail("modalities", "unknown modality '" + m + "' (known: " + core::join(names, ", ") + ")");
    if (m == "point") {
      const PointConfig& p = c.point;
      if (p.trans_dim % p.num_heads != 0) fail("point.num_heads", "must divide trans_dim");
      continue;
    }
    const ModalityConfig& mc = c.modality(m);
    if (mc.embed_dim % mc.num_heads != 0)
      fail(m + ".num_heads", std::to_string(mc.num_heads) + " does not divide embed_dim " +
                                 std::to_string(mc.embed_dim));
    if (m == "text") continue;
    if (m == "vision") {
      if (mc.kernel_size.size() != 3 || mc.input_size.size() != 2)
        fail("vision", "kernel_size must be [frames, kh, kw] and input_size [H, W]");
      if (mc.input_size[0] % mc.kernel_size[1] || mc.input_size[1] % mc.kernel_size[2])
        fail("vision.input_size", "must be a multiple of the patch size");
    } else if (m == "imu") {
      if (mc.kernel_size.size() != 1 || mc.input_size.size() != 1)
        fail("imu", "kernel_size must be [window] and input_size [samples]");
      if (mc.input_size[0] % mc.kernel_size[0])
        fail("imu.input_size", "must be a multiple of the window (kernel_size)");
    } else {
      if (mc.kernel_size.size() != 1 || mc.stride.size() != 1 || mc.input_size.size() != 2)
        fail(m, "kernel_size must be [k], stride [s] and input_size [H, W]");
      if (mc.input_size[0] < mc.kernel_size[0] || mc.input_size[1] < mc.kernel_size[0])
        fail(m + ".input_size", "smaller than the kernel");
    }
  }
}

ImageBindConfig parse_imagebind_config(config::Section s) {
  std::string preset = "huge";
  s.choice("preset", preset, {"huge", "tiny"});
  ImageBindConfig c = preset == "tiny" ? imagebind_tiny_config() : imagebind_huge_config();
  s.field("modalities", c.modalities);
  s.field("out_dim", c.out_dim, config::at_least(1));
  s.field("image_conv2d_stem", c.image_conv2d_stem);
  for (const auto& m : core::tower_names())
    if (m != "point") parse_modality(s.child(m), c.modality(m), m == "text");
  config::Section p = s.child("point");
  PointConfig& pc = c.point;
  p.field("trans_dim", pc.trans_dim, config::at_least(1));
  p.field("depth", pc.depth, config::at_least(0));
  p.field("num_heads", pc.num_heads, config::at_least(1));
  p.field("group_size", pc.group_size, config::at_least(1));
  p.field("num_group", pc.num_group, config::at_least(1));
  p.field("encoder_dims", pc.encoder_dims, config::at_least(1));
  p.field("conv1_dim", pc.conv1_dim, config::at_least(1));
  p.field("conv2_dim", pc.conv2_dim, config::at_least(1));
  p.field("conv3_dim", pc.conv3_dim, config::at_least(1));
  p.field("pos_hidden_dim", pc.pos_hidden_dim, config::at_least(1));
  p.field("proj_dim", pc.proj_dim, config::at_least(1));
  try {
    validate_imagebind_config(c);
  } catch (const ModelError& e) {
    s.fail("modalities", e.what());
  }
  return c;
}

}  // namespace ibllm::models
