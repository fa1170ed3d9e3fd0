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

ModalityDecoder make_modality_decoder(core::Modality modality, const RunConfig& cfg,
                                      std::shared_ptr<const data::ClipTokenizer> bpe) {
  using core::Modality;
  const auto& ib = cfg.model.imagebind;
  switch (modality) {
    case Modality::kVision: {
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
    case Modality::kVideo: {
      data::VideoTransformConfig vc;
      vc.size = ib.vision.input_size.at(0);
      vc.frames_per_clip = ib.vision.kernel_size.at(0);
      vc.mean = cfg.data.image.mean;
      vc.std = cfg.data.image.std;
      auto t = std::make_shared<data::VideoTransform>(vc);
      return [t](const std::string& p) { return t->load(p); };  // (S,3,T,H,W)
    }
    case Modality::kAudio: {
      data::AudioTransformConfig ac;
      ac.num_mel_bins = ib.audio.input_size.at(0);
      ac.target_length = ib.audio.input_size.at(1);
      auto t = std::make_shared<data::AudioTransform>(ac);
      return [t](const std::string& p) { return t->load(p); };  // (S,1,H,W)
    }
    case Modality::kDepth: {
      data::SingleChannelConfig sc;
      sc.size = ib.depth.input_size.at(0);
      return [sc](const std::string& p) { return data::load_depth(p, sc); };
    }
    case Modality::kThermal: {
      data::SingleChannelConfig sc;
      sc.size = ib.thermal.input_size.at(0);
      return [sc](const std::string& p) { return data::load_thermal(p, sc); };
    }
    case Modality::kImu: {
      data::ImuTransformConfig ic;
      ic.channels = ib.imu.in_channels;
      ic.num_samples = ib.imu.input_size.at(0);
      return [ic](const std::string& p) { return data::load_imu(p, ic); };
    }
    case Modality::kPoint: {
      data::PointCloudConfig pc;
      return [pc](const std::string& p) {
        return data::prepare_point_cloud(data::load_point_cloud(p), pc);
      };
    }
    case Modality::kText: break;
  }
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
