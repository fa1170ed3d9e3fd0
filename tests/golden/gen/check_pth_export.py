"""Checks an `ibllm export` from Python the way the official demo loads 7B.pth.

usage: check_pth_export.py delta.pth delta.safetensors
torch.load's the .pth (also with weights_only=True where this torch has it), expects
{"model": {name: tensor}}, and compares every tensor bit for bit with the safetensors copy
(parsed by tests/golden/gen/safetensors_io.py). Prints OK, or SKIP when torch is missing.
"""
import os
import sys

try:
    import torch
except ImportError as e:  # the C++ test turns this into a visible skip
    print("SKIP: no torch (%s)" % e)
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def main(pth, st):
    ref = safetensors_io.load(st)
    loaded = [torch.load(pth, map_location="cpu")]
    try:
        loaded.append(torch.load(pth, map_location="cpu", weights_only=True))
    except TypeError:
        pass  # torch without weights_only
    for ck in loaded:
        assert list(ck.keys()) == ["model"], list(ck.keys())
        model = ck["model"]
        assert set(model.keys()) == set(ref.keys()), set(model.keys()) ^ set(ref.keys())
        for k, v in model.items():
            r = ref[k]
            assert v.dtype == r.dtype and v.shape == r.shape, (k, v.dtype, r.dtype, v.shape, r.shape)
            assert torch.equal(v.view(torch.uint8) if v.numel() else v,
                               r.view(torch.uint8) if r.numel() else r), k
    print("OK %d tensors, %d load modes" % (len(ref), len(loaded)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
