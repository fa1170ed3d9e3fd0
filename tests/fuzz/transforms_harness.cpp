// Fuzz harnesses for the modality file loaders that parse bytes themselves: .npy (npy), the point
// cloud formats (point_cloud: the first byte picks .ply/.xyz/.obj/.npy/.pt, the rest is the file)
// then the Point-Bind input preparation, and audio (audio: WAV bytes decoded by libsndfile, then
// our resampling, clip sampling and fbank; only what comes after the decoder is ours).
#include <ATen/ATen.h>

#include <string>

#include "data/transforms/audio.h"
#include "data/transforms/npy.h"
#include "data/transforms/point_cloud.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/harnesses.h"

namespace ibllm::fuzz {

int npy_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    const at::Tensor t = data::read_npy(write_input("input.npy", data, size));
    require(static_cast<size_t>(t.numel()) * t.element_size() <= size, "more data than the file holds");
  });
}

int point_cloud_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    if (size == 0) return;
    static const char* kExt[] = {"ply", "xyz", "obj", "npy", "pt"};
    const std::string name = std::string("points.") + kExt[data[0] % 5];
    const at::Tensor p = data::load_point_cloud(write_input(name, data + 1, size - 1));
    require(p.dim() == 2 && p.size(1) == 3 && p.scalar_type() == at::kFloat, "points are not (N,3) float");
    data::PointCloudConfig c;
    c.num_points = 16;
    const at::Tensor q = data::prepare_point_cloud(p, c);
    require(q.size(0) == 16 && at::isfinite(q).all().item<bool>(), "prepared points not finite (16,3)");
  });
}

int audio_one_input(const uint8_t* data, size_t size) {
  return expect_ibllm_errors([&] {
    const data::DecodedAudio a = data::decode_audio_file(write_input("input.wav", data, size));
    data::AudioTransformConfig c;
    c.clips_per_video = 2;
    c.clip_duration = 0.05;  // short clips keep one input cheap; the code path is the same
    c.target_length = 8;
    const at::Tensor x = data::AudioTransform(c).from_waveform(a.waveform, a.sample_rate);
    require(x.dim() == 4 && x.size(0) == 2 && x.size(2) == c.num_mel_bins && x.size(3) == 8,
            "audio input has the wrong shape");
  });
}

}  // namespace ibllm::fuzz
