"""Golden fixtures for the audio pipeline (data/transforms/audio.*): torchaudio 0.13 itself is the
reference (Debian python3-torchaudio) for resample() and compliance.kaldi.fbank(); the clip
sampling / padding / normalisation restate ImageBind's load_and_transform_audio_data (spec §1.4.3).
Writes tests/golden/fixtures/imagebind/audio_torchaudio.safetensors with
  synthetic.*: a seeded 44.1 kHz signal, its 16 kHz resampling, and the ImageBind fbank of a
    16 kHz clip (always available),
  <asset>.*: for the shared demo WAVs: length after resampling, the first 4000 resampled samples
    of channel 0, and the full (3,1,128,204) pipeline output summarised as clip 1 + per-clip sums.
Run: /usr/bin/python3 tests/golden/gen/imagebind_audio_fixtures.py (assets: $IBLLM_SHARED_DIR)."""
import math
import os
import sys
from fractions import Fraction

import torch
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.environ.get("IBLLM_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "..", "shared"))


def melspec(clip, sr=16000, bins=128, target=204):
    clip = clip - clip.mean()
    f = torchaudio.compliance.kaldi.fbank(clip, htk_compat=True, sample_frequency=sr, use_energy=False,
                                          window_type="hanning", num_mel_bins=bins, dither=0.0,
                                          frame_length=25, frame_shift=10).transpose(0, 1)
    p = target - f.size(1)
    f = torch.nn.functional.pad(f, (0, p)) if p > 0 else f[:, :target]
    return f.unsqueeze(0)


def pipeline(wav, sr, rate=16000, clip_s=2, clips=3):
    if sr != rate:
        wav = torchaudio.functional.resample(wav, orig_freq=sr, new_freq=rate)
    duration = wav.size(1) / rate
    max_start = Fraction(max(duration - clip_s, 0))
    step = Fraction(max_start, max(clips - 1, 1))
    out = []
    for k in range(clips):
        start = step * k
        clip = wav[:, int(start * rate):int((start + clip_s) * rate)]
        out.append((melspec(clip) - (-4.268)) / 9.138)
    return wav, torch.stack(out)


def main():
    g = torch.Generator().manual_seed(11)
    t = {}
    sig = torch.randn(2, 3000, generator=g) * 0.1
    t["synthetic.wave44k"] = sig
    t["synthetic.resampled16k"] = torchaudio.functional.resample(sig, 44100, 16000)
    t["synthetic.wave22k"] = sig[:, :1000].contiguous()
    t["synthetic.resampled22k"] = torchaudio.functional.resample(sig[:, :1000], 22050, 16000)
    clip = torch.randn(1, 4000, generator=g) * 0.2 + 0.05
    t["synthetic.clip16k"] = clip
    t["synthetic.fbank"] = melspec(clip)  # 24 frames, zero-padded to 204 before normalisation
    for name in ("dog_audio", "example_girl_bgm"):
        path = os.path.join(ASSETS, "assets", name + ".wav")
        wav, sr = torchaudio.load(path)
        res, clips = pipeline(wav, sr)
        t[name + ".resampled_length"] = torch.tensor([res.size(1)], dtype=torch.int64)
        t[name + ".resampled_head"] = res[0, :4000].contiguous()
        t[name + ".clip1"] = clips[1].contiguous()
        t[name + ".clip_sums"] = clips.double().sum(dim=(1, 2, 3))
    out = os.path.join(HERE, "..", "fixtures", "imagebind", "audio_torchaudio.safetensors")
    safetensors_io.save(t, out, {"generator": "imagebind_audio_fixtures.py",
                                 "torchaudio": torchaudio.__version__})
    print(out, os.path.getsize(out))


if __name__ == "__main__":
    main()
