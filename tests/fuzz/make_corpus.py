#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<harness>/ from the project's own small fixtures
(tests/golden/fixtures, data/samples, configs/) plus tiny generated files, so the fuzzer starts
from every format feature we support. Re-run after adding a fixture; the output is committed.
Needs the project venv (torch, numpy): .venv/bin/python tests/fuzz/make_corpus.py
"""
import gzip
import io
import pickle
import shutil
import struct
import wave
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"
FIX = ROOT / "tests" / "golden" / "fixtures"


def put(harness, name, data):
    d = OUT / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def st_write(tensors, metadata):
    """A safetensors file from {name: (dtype, shape, raw bytes)}, in name order."""
    import json
    header, off, body = {}, 0, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in sorted(tensors.items()):
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        body += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + body


def safetensors_seeds():
    for f in ["io/pth_single.expected.safetensors", "io/pth_nested.expected.safetensors",
              "io/pth_dtypes.expected.safetensors", "imagebind/points_expected.safetensors"]:
        put("safetensors", Path(f).name, (FIX / f).read_bytes())
    put("safetensors", "empty.safetensors", st_write({}, {}))
    put("safetensors", "meta_scalar.safetensors",
        st_write({"s": ("F32", [], struct.pack("<f", 1.5)), "z": ("I8", [0, 3], b"")},
              {"format": "pt", "note": "x"}))


def pth_seeds():
    for f in sorted((FIX / "io").glob("*.pt")):
        put("pth", f.name, f.read_bytes())
    buf = io.BytesIO()
    torch.save({"a": torch.arange(6, dtype=torch.int16).view(2, 3).t(), "n": 3,
                "p": torch.nn.Parameter(torch.ones(2))}, buf)
    put("pth", "views_param.pt", buf.getvalue())


def pickle_seeds():
    for f in sorted((FIX / "io").glob("*.pt")):
        try:
            with zipfile.ZipFile(f) as z:
                for n in z.namelist():
                    if n.endswith("/data.pkl") or n == "data.pkl":
                        put("pickle", f.stem + ".pkl", z.read(n))
        except zipfile.BadZipFile:
            put("pickle", f.stem + ".pkl", f.read_bytes())  # the legacy raw pickle
    values = {
        "containers_p2": (OrderedDict(a=[1, -2, 3.5], b=(True, None), c={"x": b"\x00\xff"}), 2),
        "numpy_p4": ({"s": np.float32(2.5), "i": np.int64(-7), "arr": np.arange(6, dtype="<i4").reshape(2, 3),
                      "be": np.array([1.0, 2.0], dtype=">f8")}, 4),
        "sets_p5": ({"s": {1, 2}, "f": frozenset([3]), "ba": bytearray(b"ab"), "big": 2**70}, 5),
        "text_p0": ({"k": [1, 2.0, "three"]}, 0),
    }
    for name, (v, proto) in values.items():
        put("pickle", name + ".pkl", pickle.dumps(v, protocol=proto))


def config_seeds():
    for f in sorted((ROOT / "configs").glob("*.yaml")):
        put("config", f.name, f.read_bytes())
    tiny = (ROOT / "configs" / "tiny_cpu.yaml").read_text()
    put("config", "tiny_with_sets.yaml",
        tiny + "\n#--set\noptim.lr=2e-4\ndata.sources[0].weight=0.5\nrun.name=fz\n")
    put("config", "anchors.yaml", "run: &r {name: a, seed: 1}\nbench: {}\nx: *r\n")


def dataset_seeds():
    put("tsv", "captions.tsv", (ROOT / "data/samples/captions.tsv").read_bytes())
    put("tsv", "quoted.tsv", 'url\tcaption\taudio\r\n"a b.jpg"\t"say ""hi""\tthere"\tx.wav\r\n'
        'c.jpg\t["one", "two"]\t\n"\tbad\n')
    # json_records: the first byte picks the kind (0 llava, 1 alpaca, 2 jsonl).
    put("json_records", "llava.json", b"\x00" + (ROOT / "data/samples/instructions.json").read_bytes())
    put("json_records", "alpaca.json", b"\x01" + (ROOT / "data/samples/alpaca.json").read_bytes())
    put("json_records", "mixed.jsonl", b"\x02" + (
        '{"image": "a.jpg", "caption": ["x", "y"]}\n'
        '{"instruction": "Add", "input": "1 2", "output": "3", "audio": "a.wav"}\n'
        '{"conversations": [{"from": "human", "value": "<image>\\nHi"}, '
        '{"from": "gpt", "value": "\\u00e9t\\u00e9"}], "image": "b.png"}\n\n{bad\n').encode())


def tokenizer_seeds():
    put("sentencepiece", "tiny_tokenizer.model", (ROOT / "data/samples/tiny_tokenizer.model").read_bytes())
    for i, t in enumerate(["a photo of a dog", "A &amp; B &#x41;&#65 &hellip; it's   we'll",
                           "Ünïcödé İstanbul 123 ½ 中文 😀\t\n", "<|startoftext|>x<|endoftext|>",
                           "word " * 100, b"\xff\xfe bad utf8 \xc3"]):
        put("clip_text", f"text{i}.txt", t if isinstance(t, bytes) else t.encode())
    vocab = ROOT.parent / "shared" / "assets" / "clip_bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(vocab, "rt", encoding="utf-8").read().split("\n")
    head = "\n".join(lines[:200]) + "\n"
    put("clip_vocab", "head200.txt", head)
    put("clip_vocab", "head200.txt.gz", gzip.compress(head.encode(), mtime=0))


def npy_bytes(arr, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, arr)
    else:
        np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def transform_seeds():
    for f in ["points_f4.npy", "points_bad_shape.npy"]:
        put("npy", f, (FIX / "imagebind" / f).read_bytes())
    put("npy", "u8_v2.npy", npy_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), (2, 0)))
    put("npy", "f2_v3.npy", npy_bytes(np.ones((2, 2), dtype="<f2"), (3, 0)))
    put("npy", "i8_scalar.npy", npy_bytes(np.int64(5)))
    put("npy", "f8_empty.npy", npy_bytes(np.zeros((0, 3))))
    # point_cloud: the first byte picks the extension (0 ply, 1 xyz, 2 obj, 3 npy, 4 pt).
    pts = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    for f, sel in [("points_ascii.ply", 0), ("points_le.ply", 0), ("points_be.ply", 0),
                   ("points.xyz", 1), ("points.obj", 2), ("points_f4.npy", 3)]:
        put("point_cloud", f, bytes([sel]) + (FIX / "imagebind" / f).read_bytes()[:1500])
    b = io.BytesIO()
    torch.save(torch.from_numpy(pts), b)
    put("point_cloud", "points.pt", bytes([4]) + b.getvalue())
    put("point_cloud", "normals.xyz", bytes([1]) + b"# x y z nx ny nz\n1 2 3 0 0 1\n4 5 6 0 1 0\n")


def wav_bytes(rate, channels, width, frames):
    b = io.BytesIO()
    with wave.open(b, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        x = (np.sin(np.arange(frames * channels) * 0.05) * (2 ** (8 * width - 2))).astype(
            {1: np.uint8, 2: np.int16, 4: np.int32}[width])
        w.writeframes(x.tobytes())
    return b.getvalue()


def audio_seeds():
    put("audio", "mono16k_s16.wav", wav_bytes(16000, 1, 2, 1600))
    put("audio", "stereo8k_s16.wav", wav_bytes(8000, 2, 2, 800))
    put("audio", "mono22050_u8.wav", wav_bytes(22050, 1, 1, 1000))
    put("audio", "mono48k_s32.wav", wav_bytes(48000, 1, 4, 600))


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    for fn in [safetensors_seeds, pth_seeds, pickle_seeds, config_seeds, dataset_seeds,
               tokenizer_seeds, transform_seeds, audio_seeds]:
        fn()
    for d in sorted(OUT.iterdir()):
        size = sum(f.stat().st_size for f in d.iterdir())
        print(f"{d.name:14s} {len(list(d.iterdir())):3d} files {size:7d} bytes")


if __name__ == "__main__":
    main()
