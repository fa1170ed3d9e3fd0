// ImageBind audio pipeline (see audio.h). The resampling kernel and the fbank are computed with the
// same ATen operations, dtypes (float32) and order as torchaudio 0.13, so results match it to float
// rounding; clip boundaries use exact rational arithmetic like pytorchvideo's Fractions.
#include "data/transforms/audio.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "src/core/error.h"

#if IBLLM_WITH_SNDFILE
#include <sndfile.h>
#endif

namespace ibllm::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

// floor(x * k / d) for a finite double x >= 0 and positive integers k, d, computed exactly.
int64_t exact_floor_mul_div(double x, int64_t k, int64_t d) {
  if (x <= 0.0) return 0;
  int e = 0;
  const double frac = std::frexp(x, &e);  // x = frac * 2^e, frac in [0.5, 1)
  const auto mant = static_cast<__int128>(std::ldexp(frac, 53));  // x = mant * 2^(e - 53)
  __int128 num = mant * k;
  int shift = e - 53;
  __int128 den = d;
  if (shift >= 0) return static_cast<int64_t>((num << shift) / den);
  while (shift < 0 && (num & 1) == 0) {  // cancel powers of two first to keep den small
    num >>= 1;
    ++shift;
  }
  if (-shift > 100) return 0;  // x * k / d < 1
  den <<= -shift;
  return static_cast<int64_t>(num / den);
}

}  // namespace

DecodedAudio decode_audio_file(const std::string& path) {
#if IBLLM_WITH_SNDFILE
  constexpr int kMaxSampleRate = 768000;         // the highest rate audio hardware uses
  constexpr sf_count_t kMaxSamples = 1LL << 30;  // 4 GB of float32, ~3 hours of 48 kHz stereo
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f)
    throw DataError("cannot decode audio '" + path + "': " + sf_strerror(nullptr),
                    "supported: WAV, FLAC, OGG/Vorbis and the other libsndfile formats");
  if (info.frames <= 0 || info.channels <= 0) {
    sf_close(f);
    throw DataError("audio '" + path + "' contains no samples");
  }
  if (info.samplerate <= 0 || info.samplerate > kMaxSampleRate) {
    sf_close(f);
    throw DataError("audio '" + path + "' declares a sample rate of " +
                    std::to_string(info.samplerate) + " Hz (expected 1 .. " +
                    std::to_string(kMaxSampleRate) + ")");
  }
  // The frame count is the header's claim: read in blocks until the decoder stops, so memory
  // follows the samples really present, up to a limit.
  std::vector<float> inter;
  // Blocks of at most 64 Ki samples, no larger than the header's claim (a short clip allocates
  // little; a false claim costs nothing).
  const sf_count_t block =
      std::max<sf_count_t>(1, std::min<sf_count_t>(info.frames, (1 << 16) / info.channels));
  std::vector<float> buf(static_cast<size_t>(block) * info.channels);
  sf_count_t got = 0;
  for (sf_count_t n; (n = sf_readf_float(f, buf.data(), block)) > 0;) {
    if ((got + n) * info.channels > kMaxSamples) {
      sf_close(f);
      throw DataError("audio '" + path + "' holds more than " + std::to_string(kMaxSamples) +
                          " samples; ImageBind uses a few seconds",
                      "cut the file to the part you need");
    }
    inter.insert(inter.end(), buf.begin(), buf.begin() + n * info.channels);
    got += n;
  }
  sf_close(f);
  if (got <= 0) throw DataError("cannot read samples from audio '" + path + "' (truncated?)");
  at::Tensor w = at::from_blob(inter.data(), {got, info.channels}, at::kFloat).t().contiguous();
  return {w, info.samplerate};
#else
  (void)path;
  throw NotBuiltError("sndfile", "audio decoding");
#endif
}

at::Tensor resample_sinc(const at::Tensor& waveform, int64_t orig_freq, int64_t new_freq) {
  // (...,N) -> (...,ceil(new*N/orig)); torchaudio _get_sinc_resample_kernel + conv1d
  if (orig_freq <= 0 || new_freq <= 0) throw DataError("resample: frequencies must be positive");
  if (orig_freq == new_freq) return waveform;
  const int64_t gcd = std::gcd(orig_freq, new_freq);
  const int64_t orig = orig_freq / gcd, nw = new_freq / gcd;
  constexpr int64_t kWidth = 6;  // lowpass_filter_width
  const double base = static_cast<double>(std::min(orig, nw)) * 0.99;  // rolloff
  const auto width = static_cast<int64_t>(std::ceil(kWidth * orig / base));
  // The polyphase kernel is (new/g) x (2*width + orig/g) for g = gcd(orig, new): small for the
  // usual rates (44.1 kHz -> 16 kHz: 160 x 475) but gigabytes for rates sharing no large divisor
  // (44101 Hz: 16000 x 44135). A rate from a file header must not make us allocate that.
  constexpr int64_t kMaxKernel = 1 << 21;  // elements (8 MB of float32; 11.025 kHz -> 16 kHz: 0.3 M)
  if (static_cast<double>(nw) * static_cast<double>(2 * width + orig) > kMaxKernel)
    throw DataError("cannot resample " + std::to_string(orig_freq) + " Hz audio to " +
                        std::to_string(new_freq) + " Hz: the rates share only the factor " +
                        std::to_string(gcd) + ", so the resampling filter would hold " +
                        std::to_string(nw) + " x " + std::to_string(2 * width + orig) +
                        " coefficients",
                    "convert the file to a common sample rate (16, 22.05, 44.1 or 48 kHz) first");
  const auto opts = at::TensorOptions().dtype(waveform.scalar_type());
  at::Tensor idx = at::arange(-width, width + orig, opts).view({1, 1, -1}) / orig;
  at::Tensor t = at::arange(0, -nw, -1, opts).view({-1, 1, 1}) / nw + idx;
  t = t * base;
  t = t.clamp(-kWidth, kWidth);
  at::Tensor window = at::cos(t * kPi / kWidth / 2).pow(2);
  t = t * kPi;
  const double scale = base / orig;
  at::Tensor kernel = at::where(t == 0, at::ones({}, opts), t.sin() / t);
  kernel = kernel * (window * scale);  // (nw, 1, 2*width + orig)

  const auto shape = waveform.sizes().vec();
  const int64_t length = shape.back();
  at::Tensor x = waveform.reshape({-1, length});
  const int64_t num = x.size(0);
  x = at::constant_pad_nd(x, {width, width + orig}, 0.0);
  at::Tensor y = at::conv1d(x.unsqueeze(1), kernel, {}, orig);  // (num, nw, frames)
  y = y.transpose(1, 2).reshape({num, -1});
  const auto target = static_cast<int64_t>(
      std::ceil(static_cast<double>(nw) * static_cast<double>(length) / static_cast<double>(orig)));
  y = y.narrow(1, 0, std::min(target, y.size(1)));
  std::vector<int64_t> out_shape(shape.begin(), shape.end() - 1);
  out_shape.push_back(y.size(1));
  return y.reshape(out_shape);
}

at::Tensor kaldi_fbank(const at::Tensor& waveform, int64_t sample_rate, int64_t num_mel_bins) {
  // channel 0 of (C,N) -> (frames, bins); hanning window, 25/10 ms, preemphasis 0.97, DC removal,
  // FFT size = next power of two, power spectrum, Kaldi mel banks (20 Hz .. Nyquist), log(max(., eps))
  at::Tensor x = waveform.dim() == 2 ? waveform[0] : waveform;
  const auto shift = static_cast<int64_t>(static_cast<double>(sample_rate) * 10.0 * 0.001);
  const auto size = static_cast<int64_t>(static_cast<double>(sample_rate) * 25.0 * 0.001);
  int64_t padded = 1;
  while (padded < size) padded *= 2;
  if (x.size(0) < size)
    throw DataError("fbank needs at least " + std::to_string(size) + " samples (one 25 ms frame), got " +
                    std::to_string(x.size(0)));
  x = x.contiguous();
  const int64_t m = 1 + (x.size(0) - size) / shift;
  at::Tensor frames = x.as_strided({m, size}, {shift, 1});
  frames = frames - frames.mean(1, true);  // remove_dc_offset
  at::Tensor prev = at::cat({frames.narrow(1, 0, 1), frames.narrow(1, 0, size - 1)}, 1);
  frames = frames - 0.97 * prev;  // preemphasis with the first sample replicated
  frames = frames * at::hann_window(size, /*periodic=*/false, x.options()).unsqueeze(0);
  frames = at::constant_pad_nd(frames, {0, padded - size}, 0.0);
  at::Tensor spectrum = at::fft_rfft(frames).abs().pow(2.0);  // (m, padded/2 + 1)

  // Mel banks in float32, as get_mel_banks (vtln_warp = 1).
  const double nyquist = 0.5 * static_cast<double>(sample_rate);
  const double bin_width = static_cast<double>(sample_rate) / static_cast<double>(padded);
  auto mel_scalar = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  const double mel_low = mel_scalar(20.0), mel_high = mel_scalar(nyquist);
  const double delta = (mel_high - mel_low) / static_cast<double>(num_mel_bins + 1);
  at::Tensor bin = at::arange(num_mel_bins, at::kLong).unsqueeze(1);
  at::Tensor left = mel_low + bin * delta;
  at::Tensor center = mel_low + (bin + 1.0) * delta;
  at::Tensor right = mel_low + (bin + 2.0) * delta;
  at::Tensor freqs = bin_width * at::arange(static_cast<double>(padded / 2), at::kFloat);
  at::Tensor mel = (1127.0 * (1.0 + freqs / 700.0).log()).unsqueeze(0);
  at::Tensor up = (mel - left) / (center - left);
  at::Tensor down = (right - mel) / (right - center);
  at::Tensor banks = at::max(at::zeros({1}), at::min(up, down)).to(x.scalar_type());
  banks = at::constant_pad_nd(banks, {0, 1}, 0.0);  // (bins, padded/2 + 1)
  at::Tensor mel_energies = at::mm(spectrum, banks.t());
  const at::Tensor eps = at::full({}, std::numeric_limits<float>::epsilon(), x.options());
  return at::max(mel_energies, eps).log();
}

std::vector<std::pair<int64_t, int64_t>> audio_clip_ranges(int64_t num_samples,
                                                           const AudioTransformConfig& c) {
  const double duration = static_cast<double>(num_samples) / static_cast<double>(c.sample_rate);
  const double max_start = std::max(duration - c.clip_duration, 0.0);
  const int64_t steps = std::max<int64_t>(c.clips_per_video - 1, 1);
  const auto clip_samples = static_cast<int64_t>(c.clip_duration * static_cast<double>(c.sample_rate));
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t k = 0; k < c.clips_per_video; ++k) {
    // int(start * rate) with start = max_start * k / steps exactly (Fractions in the reference)
    const int64_t begin = exact_floor_mul_div(max_start, k * c.sample_rate, steps);
    out.emplace_back(std::min(begin, num_samples), std::min(begin + clip_samples, num_samples));
  }
  return out;
}

at::Tensor waveform_to_melspec(const at::Tensor& clip_in, const AudioTransformConfig& c) {
  // (C,n) -> (1, bins, target_length)
  at::Tensor clip = clip_in;
  if (clip.numel() > 0) clip = clip - clip.mean();
  const auto frame = static_cast<int64_t>(static_cast<double>(c.sample_rate) * 25.0 * 0.001);
  if (clip.size(1) < frame) {
    spdlog::warn("audio clip of {} samples is shorter than one 25 ms frame ({}); zero-padding it "
                 "(the reference crashes here)", clip.size(1), frame);
    clip = at::constant_pad_nd(clip, {0, frame - clip.size(1)}, 0.0);
  }
  at::Tensor f = kaldi_fbank(clip, c.sample_rate, c.num_mel_bins).t();  // (bins, T)
  const int64_t n = f.size(1), p = c.target_length - n;
  if (std::abs(static_cast<double>(p)) / static_cast<double>(n) > 0.2)
    spdlog::warn("audio clip has {} fbank frames, {} wanted: large padding/cropping", n, c.target_length);
  f = p > 0 ? at::constant_pad_nd(f, {0, p}, 0.0) : f.narrow(1, 0, c.target_length);
  return f.unsqueeze(0).contiguous();
}

AudioTransform::AudioTransform(AudioTransformConfig config) : config_(std::move(config)) {}

at::Tensor AudioTransform::from_waveform(const at::Tensor& waveform, int64_t sample_rate) const {
  if (waveform.dim() != 2 || waveform.size(1) == 0)
    throw DataError("audio waveform must be (channels, samples) with samples > 0");
  at::Tensor w = waveform.to(at::kFloat);
  if (sample_rate != config_.sample_rate) w = resample_sinc(w, sample_rate, config_.sample_rate);
  std::vector<at::Tensor> clips;
  for (const auto& [b, e] : audio_clip_ranges(w.size(1), config_)) {
    at::Tensor spec = waveform_to_melspec(w.narrow(1, b, e - b), config_);
    clips.push_back((spec - config_.mean) / config_.std);
  }
  return at::stack(clips);  // (S, 1, bins, target_length)
}

at::Tensor AudioTransform::load(const std::string& path) const {
  DecodedAudio a = decode_audio_file(path);
  return from_waveform(a.waveform, a.sample_rate);
}

}  // namespace ibllm::data
