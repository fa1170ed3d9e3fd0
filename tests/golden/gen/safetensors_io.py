"""Minimal safetensors writer/reader for golden-fixture generators (our own code; the Debian
machine has no `safetensors` package). Format: u64-LE header length, JSON header
{name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw little-endian buffer.
Run generators with the system interpreter: /usr/bin/python3 (torch 1.13)."""
import json
import struct

import torch

_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
_FROM = {v: k for k, v in _DTYPES.items()}


def save(tensors, path, metadata=None):
    """tensors: dict name -> torch.Tensor (any device/layout; written contiguous, CPU)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        flat = t.reshape(-1)  # 0-d tensors cannot be viewed as bytes directly
        raw = flat.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        if t.dtype == torch.bool:
            raw = flat.to(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = _FROM[info["dtype"]]
        raw = bytearray(buf[b:e])
        t = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        t = t.view(dt) if dt != torch.bool else t.bool()
        out[name] = t.reshape(info["shape"])
    return out
