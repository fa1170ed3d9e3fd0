// ImageBind preprocessors (spec §1.3). Positional embeddings are used as trained: an input whose
// token grid differs from the configured one is rejected (the reference would interpolate
// bicubically; not needed at the ImageBind input sizes).
#include "models/imagebind/preprocessors.h"

#include <limits>

#include "src/core/error.h"

namespace ibllm::models {

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + ")";
}

int64_t conv_out(int64_t in, int64_t k, int64_t s) { return (in - k) / s + 1; }

}  // namespace

PatchStemImpl::PatchStemImpl(const std::string& kind, const ModalityConfig& c,
                             const at::TensorOptions& options)
    : kind_(kind) {
  const int64_t D = c.embed_dim;
  if (kind == "video") {
    // Reference: proj = Sequential(PadIm2Video(repeat, 2), Conv3d(3, D, k=s=(T,kh,kw), bias=False))
    proj_list = register_module("proj", torch::nn::ModuleList());
    proj_list->push_back(IndexPlaceholder());
    conv = PatchConv(c.in_channels, D, c.kernel_size, c.kernel_size, options);
    proj_list->push_back(conv);
    return;
  }
  if (kind == "conv2d") {
    const int64_t k = c.kernel_size.at(0), s = c.stride.at(0);
    conv = register_module("proj", PatchConv(c.in_channels, D, std::vector<int64_t>{k, k}, std::vector<int64_t>{s, s}, options));
  } else if (kind == "linear") {
    linear = register_module("proj", Dense(c.in_channels * c.kernel_size.at(0), D, false, options,
                                           DenseInit::kTorchLinear));
  } else {
    throw ModelError("unknown stem kind '" + kind + "'");
  }
  norm_layer = register_module("norm_layer", EncoderLayerNorm(D, 1e-5, options));
}

void PatchStemImpl::reset_parameters() {
  if (conv) conv->reset_parameters();
  if (linear) linear->reset_parameters();
  if (norm_layer) norm_layer->reset_parameters();
}

at::Tensor PatchStemImpl::forward(const at::Tensor& x, bool image_conv2d) const {
  at::Tensor y;
  if (kind_ == "linear") {
    y = linear->forward(x);  // (B,N,C*w) -> (B,N,D)
  } else if (kind_ == "video") {
    const auto& k = conv->kernel();
    if (x.dim() == 4 && image_conv2d) {
      // Conv3d over a frame repeated T times == Conv2d with the T kernel slices summed.
      y = at::conv2d(x, conv->weight.sum(2), {}, {k[1], k[2]});
    } else {
      at::Tensor v = x.dim() == 4 ? x.unsqueeze(2) : x;  // PadIm2Video: (B,C,H,W) -> (B,C,1,H,W)
      if (v.size(2) == 1) v = v.repeat({1, 1, k[0], 1, 1});
      // The reference Conv3d would silently drop frames beyond a multiple of the kernel.
      if (v.size(2) != k[0])
        throw ModelError("vision clips must have exactly " + std::to_string(k[0]) +
                         " frames (or 1, repeated), got " + std::to_string(v.size(2)));
      y = conv->forward(v);
    }
    y = y.flatten(2).transpose(1, 2);  // (B,D,[T'],H',W') -> (B,N,D), row-major t,h,w
  } else {
    y = conv->forward(x).flatten(2).transpose(1, 2);  // (B,D,H',W') -> (B,N,D)
  }
  return norm_layer ? norm_layer->forward(y) : y;
}

RgbdtPreprocessorImpl::RgbdtPreprocessorImpl(const std::string& modality, const ModalityConfig& c,
                                             const at::TensorOptions& options)
    : modality_(modality) {
  const int64_t D = c.embed_dim;
  int64_t n = 0;
  if (modality == "vision") {
    stem = register_module("rgbt_stem", PatchStem("video", c, options));
    n = (c.input_size[0] / c.kernel_size[1]) * (c.input_size[1] / c.kernel_size[2]);
  } else {
    stem = register_module(modality == "depth" ? "depth_stem" : "rgbt_stem",
                           PatchStem("conv2d", c, options));
    n = conv_out(c.input_size[0], c.kernel_size[0], c.stride[0]) *
        conv_out(c.input_size[1], c.kernel_size[0], c.stride[0]);
  }
  expected_ = {c.in_channels, c.input_size[0], c.input_size[1]};
  cls_token = register_parameter("cls_token", at::empty({1, 1, D}, options));
  pos_embedding_helper = register_module(
      "pos_embedding_helper", TensorHolder("pos_embed", at::empty({1, n + 1, D}, options), false));
}

void RgbdtPreprocessorImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  stem->reset_parameters();
  cls_token.normal_(0.0, 0.02);
  pos_embedding_helper->value.normal_(0.0, 0.02);
}

at::Tensor RgbdtPreprocessorImpl::forward(const at::Tensor& x, bool image_conv2d) const {
  // vision: (B,3,H,W) image or (B,3,T,H,W) clip; audio/depth/thermal: (B,1,H,W) -> (B,1+N,D)
  const bool clip_ok = modality_ == "vision" && x.dim() == 5;
  if (!(x.dim() == 4 || clip_ok) || x.size(1) != expected_[0] ||
      x.size(-2) != expected_[1] || x.size(-1) != expected_[2]) {
    throw ModelError(modality_ + " encoder expects (B," + std::to_string(expected_[0]) +
                         (modality_ == "vision" ? ",[T]," : ",") + std::to_string(expected_[1]) +
                         "," + std::to_string(expected_[2]) + ") (multi-clip: one more leading "
                         "axis), got " + shape_str(x.sizes()),
                     "resize/crop inputs to the configured input_size");
  }
  at::Tensor tokens = stem->forward(x, image_conv2d);
  const at::Tensor& pos = pos_embedding_helper->value;
  if (tokens.size(1) + 1 != pos.size(1))
    throw ModelError(modality_ + " stem produced " + std::to_string(tokens.size(1)) +
                     " tokens but the positional embedding has " + std::to_string(pos.size(1) - 1) +
                     " (a video clip needs exactly " + std::to_string(stem->conv->kernel()[0]) +
                     " frames or 1)");
  tokens = at::cat({cls_token.expand({tokens.size(0), 1, tokens.size(2)}), tokens}, 1);
  return tokens + pos;
}

ImuPreprocessorImpl::ImuPreprocessorImpl(const ModalityConfig& c, const at::TensorOptions& options)
    : channels_(c.in_channels), samples_(c.input_size.at(0)), window_(c.kernel_size.at(0)) {
  const int64_t D = c.embed_dim;
  imu_stem = register_module("imu_stem", PatchStem("linear", c, options));
  cls_token = register_parameter("cls_token", at::empty({1, 1, D}, options));
  pos_embed = register_parameter("pos_embed", at::empty({1, samples_ / window_ + 1, D}, options));
}

void ImuPreprocessorImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  imu_stem->reset_parameters();
  cls_token.normal_(0.0, 0.02);
  pos_embed.normal_(0.0, 0.02);
}

at::Tensor ImuPreprocessorImpl::forward(const at::Tensor& x) const {
  // (B,C,T) -> windows (B,C,T/w,w) -> (B,T/w,C,w) -> (B,T/w,C*w), feature = channel*w + sample
  if (x.dim() != 3 || x.size(1) != channels_ || x.size(2) != samples_)
    throw ModelError("imu encoder expects (B," + std::to_string(channels_) + "," +
                     std::to_string(samples_) + "), got " + shape_str(x.sizes()));
  const int64_t B = x.size(0), W = samples_ / window_;
  at::Tensor w = x.reshape({B, channels_, W, window_}).permute({0, 2, 1, 3}).reshape(
      {B, W, channels_ * window_});
  at::Tensor tokens = imu_stem->forward(w, false);
  tokens = at::cat({cls_token.expand({B, 1, tokens.size(2)}), tokens}, 1);
  return tokens + pos_embed;
}

TextPreprocessorImpl::TextPreprocessorImpl(const ModalityConfig& c, const at::TensorOptions& options)
    : vocab_(c.vocab_size), context_(c.context_length) {
  const int64_t D = c.embed_dim, L = c.context_length;
  token_embedding = register_module("token_embedding", TokenEmbedding(vocab_, D, options, /*init_std=*/0.02));
  pos_embed = register_parameter("pos_embed", at::empty({1, L, D}, options));
  mask = register_buffer("mask", at::empty({L, L}, options));
  if (options.device().type() != at::kMeta) {
    // causal additive mask: -inf strictly above the diagonal (a persistent buffer, in checkpoints)
    at::NoGradGuard no_grad;
    mask.fill_(-std::numeric_limits<float>::infinity());
    mask.triu_(1);
  }
}

void TextPreprocessorImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  token_embedding->reset_parameters();
  pos_embed.normal_(0.0, 0.01);
}

at::Tensor TextPreprocessorImpl::forward(const at::Tensor& ids) const {
  // (B,L) int64 token ids -> (B,L,D)
  if (ids.dim() != 2 || ids.size(1) != context_ || ids.scalar_type() != at::kLong)
    throw ModelError("text encoder expects int64 token ids (B," + std::to_string(context_) +
                     "), got " + shape_str(ids.sizes()),
                     "tokenize with the CLIP BPE tokenizer (padded to the context length)");
  if (ids.numel() && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= vocab_))
    throw ModelError("text token id out of range [0," + std::to_string(vocab_) + ")");
  return token_embedding->forward(ids) + pos_embed;
}

}  // namespace ibllm::models
