// Modality decoders; see modality_inputs.h.
#include "trainers/modality_inputs.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "data/clip_tokenizer.h"
#include "data/image_transform.h"
#include "data/transforms/audio.h"
#include "data/transforms/depth_thermal.h"
#include "data/transforms/imu.h"
#include "data/transforms/point_cloud.h"
#include "data/transforms/video.h"
#include "src/core/error.h"

namespace ibllm::train {

const std::vector<std::string>& input_modality_names() {
  static const std::vector<std::string> names = {"vision", "video",   "text", "audio",
                                                 "depth",  "thermal", "imu",  "point"};
  return names;
}

ModalityDecoder make_modality_decoder(const std::string& modality, const RunConfig& cfg,
                     std::shared_ptr<const data::ClipTokenizer> bpe) {
  const auto& ib = cfg.model.imagebind;
  if (modality == "vision") {
    const auto& v = ib.vision;
    if (v.input_size.size() != 2 || v.input_size[0] != cfg.data.image.size ||
        v.input_size[1] != cfg.data.image.size)
      throw ConfigError(
          fmt::format("data.image.size {} does not match model.imagebind.vision.input_size",
                      cfg.data.image.size),
          "set data.image.size to the vision tower's input size");
    auto t = std::make_shared<data::ImageTransform>(cfg.data.image);
    return [t](const std::string& p) { return t->eval(p); };
  }
  if (modality == "video") {
    data::VideoTransformConfig vc;
    vc.size = ib.vision.input_size.at(0);
    vc.frames_per_clip = ib.vision.kernel_size.at(0);
    vc.mean = cfg.data.image.mean;
    vc.std = cfg.data.image.std;
    auto t = std::make_shared<data::VideoTransform>(vc);
    return [t](const std::string& p) { return t->load(p); };  // (S,3,T,H,W)
  }
  if (modality == "audio") {
    data::AudioTransformConfig ac;
    ac.num_mel_bins = ib.audio.input_size.at(0);
    ac.target_length = ib.audio.input_size.at(1);
    auto t = std::make_shared<data::AudioTransform>(ac);
    return [t](const std::string& p) { return t->load(p); };  // (S,1,H,W)
  }
  if (modality == "depth" || modality == "thermal") {
    data::SingleChannelConfig sc;
    sc.size = ib.modality(modality).input_size.at(0);
    if (modality == "depth") return [sc](const std::string& p) { return data::load_depth(p, sc); };
    return [sc](const std::string& p) { return data::load_thermal(p, sc); };
  }
  if (modality == "imu") {
    data::ImuTransformConfig ic;
    ic.channels = ib.imu.in_channels;
    ic.num_samples = ib.imu.input_size.at(0);
    return [ic](const std::string& p) { return data::load_imu(p, ic); };
  }
  if (modality == "point") {
    data::PointCloudConfig pc;
    return [pc](const std::string& p) {
      return data::prepare_point_cloud(data::load_point_cloud(p), pc);
    };
  }
  if (modality != "text")
    throw UsageError("unknown modality '" + modality + "'",
                     "use vision, video, text, audio, depth, thermal, imu or point");
  if (!bpe)
    throw UsageError("text input needs the CLIP BPE vocabulary (--bpe bpe_simple_vocab_16e6.txt.gz)");
  const auto& t = ib.text;
  if (t.vocab_size != data::ClipTokenizer::kVocabSize)
    throw ConfigError(fmt::format("model.imagebind.text.vocab_size is {}, the CLIP BPE vocabulary "
                                  "has {} tokens",
                                  t.vocab_size, data::ClipTokenizer::kVocabSize),
                      "use the huge preset's text tower (or set text.vocab_size: 49408)");
  if (t.context_length != bpe->options().context_length)
    throw ConfigError("model.imagebind.text.context_length does not match the tokenizer");
  return [bpe](const std::string& text) {
    auto ids = bpe->tokenize(text);
    return at::tensor(ids, at::kLong);
  };
}

}  // namespace ibllm::train
