"""Writes the ImageBind / Point-Bind golden fixtures (tests/golden/fixtures/imagebind/) and the
tiny-preset key list, from the restatement in imagebind_reference.py. Each modality gets its own
file: the weights of a model built with that modality only (official key names), the inputs, and
intermediate + final outputs. The TINY dict must match imagebind_tiny_config() in
models/imagebind/imagebind_config.cpp. Usage: /usr/bin/python3 tests/golden/gen/imagebind_make_fixtures.py"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imagebind_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

OUT_DIM = 16
TINY = {
    "vision": dict(dim=32, blocks=2, heads=4, bias_kv=False, kernel=(2, 7, 7), size=(28, 28)),
    "text": dict(dim=32, blocks=2, heads=4, bias_kv=False, vocab=64, ctx=8, scale=1 / 0.07),
    "audio": dict(dim=24, blocks=2, heads=3, bias_kv=True, kernel=8, stride=5, size=(16, 24), scale=20.0),
    "depth": dict(dim=16, blocks=2, heads=2, bias_kv=True, kernel=8, stride=8, size=(16, 16), scale=5.0),
    "thermal": dict(dim=24, blocks=2, heads=3, bias_kv=True, kernel=8, stride=8, size=(16, 16), scale=10.0),
    "imu": dict(dim=16, blocks=2, heads=2, bias_kv=True, channels=6, window=8, length=40, scale=5.0),
    "point": dict(trans_dim=32, depth=2, heads=4, group_size=8, num_group=16, encoder_dims=32,
                  c1=16, c2=32, c3=64, pos_hidden=16, proj_dim=24),
}
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "imagebind")


def save(tensors, path, metadata):
    """safetensors_io.save cannot view a 0-dim tensor as bytes (the logit-scale scalars), so
    0-dim tensors are written through a 1-element view and their header shape restored to []."""
    scalars = [k for k, v in tensors.items() if v.ndim == 0]
    safetensors_io.save({k: (v.reshape(1) if v.ndim == 0 else v) for k, v in tensors.items()},
                        path, metadata)
    if not scalars:
        return
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    for k in scalars:
        header[k]["shape"] = []
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


def randomise(model, seed):
    """Every parameter and float buffer gets non-trivial values (zeros would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("text.mask") or name.endswith("num_batches_tracked"):
                continue
            if name.endswith("log_logit_scale"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))  # keep the scale near its init
            elif name.endswith("running_var"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif p.ndim == 1 and ("norm" in name or ".0." in name or ".1." in name) and "weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.ndim >= 2 else 1
                if p.ndim >= 3 and "weight" in name:
                    fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / max(fan_in, 1) ** 0.5)
    return model


def inputs_for(m, g):
    c = TINY[m]
    if m == "vision":
        return {"image": torch.randn(2, 3, *c["size"], generator=g),
                "video": torch.randn(1, 2, 3, 2, *c["size"], generator=g)}
    if m == "text":
        ids = torch.randint(1, c["vocab"] - 1, (2, c["ctx"]), generator=g)
        ids[0, 3] = c["vocab"] - 1  # EOT in the middle, zero padding after it
        ids[0, 4:] = 0
        ids[1, -1] = c["vocab"] - 1  # EOT at the last slot
        return {"ids": ids}
    if m == "audio":
        return {"clips": torch.randn(2, 2, 1, *c["size"], generator=g),
                "single": torch.randn(2, 1, *c["size"], generator=g)}
    if m in ("depth", "thermal"):
        return {"image": torch.randn(2, 1, *c["size"], generator=g)}
    if m == "imu":
        return {"signal": torch.randn(2, c["channels"], c["length"], generator=g)}
    if m == "point":
        p = torch.randn(2, 128, 3, generator=g)
        return {"points": p / p.norm(dim=-1).max()}


def main():
    os.makedirs(FIX, exist_ok=True)
    torch.set_grad_enabled(False)
    for i, m in enumerate(TINY):
        model = randomise(ref.ImageBind({m: TINY[m]}, OUT_DIM), 100 + i).eval()
        g = torch.Generator().manual_seed(200 + i)
        tensors = {k: v.clone() for k, v in model.state_dict().items()}
        for name, x in inputs_for(m, g).items():
            tensors["input." + name] = x
            trace = {}
            tensors["output." + name] = model.encode(m, x, trace)
            for k, v in trace.items():
                tensors["trace.%s.%s" % (name, k)] = v.contiguous()
        path = os.path.join(FIX, "imagebind_tiny_%s.safetensors" % m)
        save(tensors, path, {"generator": "imagebind_make_fixtures.py", "modality": m})
        print(path, os.path.getsize(path))
    # Key list of the full tiny model (all modalities + point), in state_dict order.
    full = ref.ImageBind(TINY, OUT_DIM)
    with open(os.path.join(FIX, "imagebind_tiny_keys.txt"), "w") as f:
        f.write("# key shape: state_dict of the tiny preset (imagebind_make_fixtures.py)\n")
        for k, v in full.state_dict().items():
            f.write("%s %s\n" % (k, ",".join(str(s) for s in v.shape)))


if __name__ == "__main__":
    main()
