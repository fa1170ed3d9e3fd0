// Audio pipeline parity with torchaudio 0.13 (tests/golden/gen/imagebind_audio_fixtures.py):
// windowed-sinc resampling 44.1k/22.05k -> 16k, the Kaldi fbank with ImageBind's options, the
// clip sampler, and the full (3,1,128,204) pipeline on the shared demo WAVs.
#include <ATen/ATen.h>

#include <fstream>

#include "data/transforms/audio.h"
#include "src/core/error.h"
#include "src/io/safetensors.h"
#include "tests/support/catch.h"
#include "tests/support/paths.h"
#include "tests/support/tensor_match.h"

using namespace ibllm::data;

namespace {

std::map<std::string, at::Tensor> audio_fixture() {
  return ibllm::io::read_safetensors(
      (ibllm::test::source_dir() / "tests/golden/fixtures/imagebind/audio_torchaudio.safetensors").string());
}

}  // namespace

TEST_CASE("audio golden: sinc resampling equals torchaudio.functional.resample", "[imagebind][audio][golden]") {
  auto f = audio_fixture();
  at::Tensor r44 = resample_sinc(f.at("synthetic.wave44k"), 44100, 16000);
  REQUIRE(r44.sizes() == f.at("synthetic.resampled16k").sizes());
  IBLLM_CHECK_TENSOR(r44, f.at("synthetic.resampled16k"), 1e-5, 1e-7);
  at::Tensor r22 = resample_sinc(f.at("synthetic.wave22k"), 22050, 16000);
  REQUIRE(r22.sizes() == f.at("synthetic.resampled22k").sizes());
  IBLLM_CHECK_TENSOR(r22, f.at("synthetic.resampled22k"), 1e-5, 1e-7);
}

TEST_CASE("audio golden: Kaldi fbank melspec equals torchaudio.compliance.kaldi.fbank", "[imagebind][audio][golden]") {
  auto f = audio_fixture();
  AudioTransformConfig c;
  at::Tensor spec = waveform_to_melspec(f.at("synthetic.clip16k"), c);
  REQUIRE(spec.sizes() == at::IntArrayRef({1, 128, 204}));
  // log-mel values are O(1..10); float32 FFT/mm rounding differences stay far below 1e-4
  IBLLM_CHECK_TENSOR(spec, f.at("synthetic.fbank"), 1e-4, 1e-4);
  // 4000 samples -> 1 + (4000-400)/160 = 23 frames; the rest is zero padding
  CHECK(spec.narrow(2, 23, 204 - 23).abs().max().item<float>() == 0.0f);
  CHECK(spec.narrow(2, 22, 1).abs().max().item<float>() > 0.0f);
}

TEST_CASE("audio: clip sampler boundaries (3 clips of 2 s)", "[imagebind][audio]") {
  AudioTransformConfig c;
  // 5.2 s: max start 3.2 s -> starts 0, 1.6 s, 3.2 s
  auto r = audio_clip_ranges(83200, c);
  REQUIRE(r.size() == 3);
  CHECK(r[0] == std::make_pair<int64_t, int64_t>(0, 32000));
  CHECK(r[1] == std::make_pair<int64_t, int64_t>(25600, 57600));
  CHECK(r[2] == std::make_pair<int64_t, int64_t>(51200, 83200));
  // shorter than a clip: all start at 0 and end at the file end
  auto s = audio_clip_ranges(10000, c);
  for (const auto& [b, e] : s) {
    CHECK(b == 0);
    CHECK(e == 10000);
  }
}

TEST_CASE("audio: a clip shorter than one frame is zero-padded, not a crash", "[imagebind][audio]") {
  AudioTransform t{AudioTransformConfig{}};
  at::Tensor out = t.from_waveform(at::randn({1, 100}), 16000);
  CHECK(out.sizes() == at::IntArrayRef({3, 1, 128, 204}));
  CHECK(at::isfinite(out).all().item<bool>());
  CHECK_THROWS_AS(t.from_waveform(at::zeros({1, 0}), 16000), ibllm::DataError);
}

TEST_CASE("audio: the usual sample rates resample; a rate sharing no factor is a DataError",
          "[imagebind][audio]") {
  // The filter holds (new/g) x (2*width + orig/g) coefficients, g = gcd(orig, new): bounded so a
  // rate read from a file header cannot make it gigabytes (44101 Hz: 16000 x 44135).
  const at::Tensor w = at::randn({1, 2000});
  for (int64_t rate : {8000, 11025, 12000, 22050, 24000, 32000, 44100, 48000, 88200, 96000}) {
    INFO(rate);
    const at::Tensor r = resample_sinc(w, rate, 16000);
    CHECK(r.size(1) == (2000 * 16000 + rate - 1) / rate);
  }
  CHECK_THROWS_AS(resample_sinc(w, 44101, 16000), ibllm::DataError);
}

#if IBLLM_WITH_SNDFILE
TEST_CASE("audio golden: full pipeline on the demo WAVs vs torchaudio", "[imagebind][audio][golden][skips]") {
  auto f = audio_fixture();
  AudioTransform t{AudioTransformConfig{}};
  for (const char* name : {"dog_audio", "example_girl_bgm"}) {
    IBLLM_REQUIRE_ASSET(path, std::string(name) + ".wav");
    INFO(name);
    DecodedAudio a = decode_audio_file(path.string());
    at::Tensor res = resample_sinc(a.waveform, a.sample_rate, 16000);
    CHECK(res.size(1) == f.at(std::string(name) + ".resampled_length")[0].item<int64_t>());
    IBLLM_CHECK_TENSOR(res[0].narrow(0, 0, 4000), f.at(std::string(name) + ".resampled_head"), 1e-5, 1e-7);
    at::Tensor clips = t.load(path.string());
    REQUIRE(clips.sizes() == at::IntArrayRef({3, 1, 128, 204}));
    // log-mel of a 512-point float32 FFT: another FFT backend may differ by ~1e-5 (here: exact)
    IBLLM_CHECK_TENSOR(clips[1], f.at(std::string(name) + ".clip1"), 1e-4, 1e-4);
    at::Tensor sums = clips.to(at::kDouble).sum({1, 2, 3});
    IBLLM_CHECK_TENSOR(sums, f.at(std::string(name) + ".clip_sums"), 1e-5, 1e-2);
  }
}

TEST_CASE("audio decode: bad files give DataError naming the file", "[imagebind][audio]") {
  auto dir = ibllm::test::scratch_dir("audio_bad");
  std::ofstream(dir / "empty.wav", std::ios::binary) << "";
  std::ofstream(dir / "text.wav", std::ios::binary) << "not a wav file at all";
  for (const char* n : {"empty.wav", "text.wav", "missing.wav"}) {
    const std::string p = (dir / n).string();
    try {
      decode_audio_file(p);
      FAIL("expected DataError");
    } catch (const ibllm::DataError& e) {
      CHECK(std::string(e.what()).find(p) != std::string::npos);
    }
  }
}
#endif
