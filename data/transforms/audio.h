// ImageBind audio input (spec §1.4.3): decode (libsndfile; IBLLM_WITH_SNDFILE), resample to
// 16 kHz with torchaudio's windowed-sinc defaults, 3 clips of 2 s from the constant-clips sampler,
// per clip: subtract the mean, Kaldi fbank (Hann, 25/10 ms, 128 mel bins, htk_compat, no energy,
// channel 0), pad/cut to 204 frames, normalise (x + 4.268) / 9.138 -> (S,1,128,204).
// Deviation: a clip shorter than one 25 ms frame is zero-padded in the waveform domain (with a
// warning) instead of crashing as the reference does (§9.7).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ibllm::data {

struct AudioTransformConfig {
  int64_t sample_rate = 16000;
  int64_t num_mel_bins = 128;
  int64_t target_length = 204;
  double clip_duration = 2.0;
  int64_t clips_per_video = 3;
  double mean = -4.268;
  double std = 9.138;
};

struct DecodedAudio {
  at::Tensor waveform;  // float32 (C,N) in [-1,1] (16-bit PCM / 32768, as torchaudio.load)
  int64_t sample_rate = 0;
};

// Throws DataError naming the file (missing, empty, undecodable); NotBuiltError without libsndfile.
DecodedAudio decode_audio_file(const std::string& path);

// torchaudio.functional.resample(x, orig, new) with its defaults (lowpass_filter_width 6, rolloff
// 0.99, Hann-windowed sinc); x (...,N) float -> (...,ceil(new*N/orig)).
at::Tensor resample_sinc(const at::Tensor& waveform, int64_t orig_freq, int64_t new_freq);

// torchaudio.compliance.kaldi.fbank with ImageBind's options on channel 0 of (C,N):
// -> (frames, num_mel_bins) log mel energies, frames = 1 + (N - 400) / 160 at 16 kHz.
at::Tensor kaldi_fbank(const at::Tensor& waveform, int64_t sample_rate, int64_t num_mel_bins);

// [begin, end) sample ranges of the clips (pytorchvideo ConstantClipsPerVideoSampler, exact
// rational arithmetic as the reference's Fractions).
std::vector<std::pair<int64_t, int64_t>> audio_clip_ranges(int64_t num_samples,
                                                           const AudioTransformConfig& c);

// One clip (C,n) at sample_rate -> (1,num_mel_bins,target_length), before normalisation.
at::Tensor waveform_to_melspec(const at::Tensor& clip, const AudioTransformConfig& c);

class AudioTransform {
 public:
  explicit AudioTransform(AudioTransformConfig config);
  // -> (clips_per_video, 1, num_mel_bins, target_length), normalised.
  at::Tensor load(const std::string& path) const;
  at::Tensor from_waveform(const at::Tensor& waveform, int64_t sample_rate) const;
  const AudioTransformConfig& config() const { return config_; }

 private:
  AudioTransformConfig config_;
};

}  // namespace ibllm::data
