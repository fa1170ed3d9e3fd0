"""Writes the .pth fixtures for the io tests with real torch.save (zip format, pickle protocol 2),
plus, for each, a safetensors file holding the tensors the C++ reader must produce (flattened
"a/b/0" keys). Deterministic (fixed seeds); every file stays a few KB.
Run: /usr/bin/python3 tests/golden/gen/pth_fixtures.py   (writes tests/golden/fixtures/io/)"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "io")


class Tiny(torch.nn.Module):
    """A small module whose state_dict covers Linear, Embedding, LayerNorm and BatchNorm buffers."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(5, 4)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 3), torch.nn.Linear(3, 2, bias=False)])
        self.norm = torch.nn.LayerNorm(2)
        self.bn = torch.nn.BatchNorm1d(2)
        self.register_buffer("scale", torch.tensor(0.5, dtype=torch.float64))


def expected(tensors, name):
    safetensors_io.save(tensors, os.path.join(OUT, name + ".expected.safetensors"))


def every_dtype():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(2, 3, generator=g)
    return collections.OrderedDict([
        ("f32", base.clone()),
        ("f64", base.double() * 3),
        ("f16", (base * 2).half()),
        ("bf16", (base * 4).bfloat16()),
        ("i64", torch.tensor([[-(2 ** 40), 1, 2], [3, 4, 2 ** 62]], dtype=torch.int64)),
        ("i32", torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32)),
        ("i16", torch.tensor([-300, 12], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 5, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True, True])),
        ("scalar", torch.tensor(3.25)),
        ("empty", torch.zeros(0, 4)),
    ])


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    # 1. a module's state_dict: OrderedDict carrying _metadata (module versions)
    tiny = Tiny()
    with torch.no_grad():
        tiny.bn.running_mean.copy_(torch.tensor([0.1, -0.2]))
        tiny.bn.num_batches_tracked.fill_(7)
    sd = tiny.state_dict()
    torch.save(sd, os.path.join(OUT, "pth_state_dict.pt"))
    expected(dict(sd), "pth_state_dict")

    # 2. every storage type
    dt = every_dtype()
    torch.save(dt, os.path.join(OUT, "pth_dtypes.pt"))
    expected(dict(dt), "pth_dtypes")

    # 3. views sharing one storage: offsets, transposes, strided slices
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "base": base,
        "row2": base[2],                 # offset 12
        "t": base.t(),                   # strides (1, 6)
        "cols": base[:, 1:5:2],          # offset 1, strides (6, 2)
        "flat_tail": base.view(-1)[20:],  # offset 20
    }
    torch.save(views, os.path.join(OUT, "pth_views.pt"))
    expected({k: v.contiguous() for k, v in views.items()}, "pth_views")

    # 4. plain python values and nested containers, Parameters, numpy scalars
    p = torch.nn.Parameter(torch.tensor([1.5, -2.5]))
    nested = {
        "str": "héllo ✓",
        "int_small": 7,
        "int_neg": -300,
        "int_big": 2 ** 40 + 3,
        "int_i64min": -(2 ** 63),
        "float": 0.125,
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", 3.0, [4, (5, 6)]],
        "tuple": (torch.ones(2, dtype=torch.int32), "x"),
        "empty_list": [],
        "empty_tuple": (),
        "empty_dict": {},
        "int_keys": {1: "one", 2: "two"},
        "param": p,
        "np_f64": np.float64(0.75),
        "np_f32": np.float32(-1.5),
        "np_i64": np.int64(-42),
        "np_bool": np.bool_(True),
        "bytes": b"\x00\x01\xff",
    }
    torch.save(nested, os.path.join(OUT, "pth_nested.pt"))
    expected({"tuple/0": nested["tuple"][0], "param": p.detach()}, "pth_nested")

    # 5. a training checkpoint like the official scripts write
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    model(torch.tensor([[1, 2]])) if False else None
    loss = model.blocks[1](model.blocks[0](model.embed(torch.tensor([1, 2])))).sum()
    loss.backward()
    opt.step()
    args = argparse.Namespace(batch_size=4, lr=1e-3, llama_type="7B", output_dir="./out",
                              phases=["pretrain"], max_words=512, use_fp16=True)
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 10},
            "args": args}
    torch.save(ckpt, os.path.join(OUT, "pth_training_ckpt.pt"))
    exp = {"model/" + k: v for k, v in model.state_dict().items()}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            exp["optimizer/state/%d/%s" % (pid, k)] = v
    expected(exp, "pth_training_ckpt")

    # 6. single tensor, and the {"model": ...} wrapper with fp16 gates like 7B.pth
    single = torch.linspace(-1, 1, 10).reshape(2, 5)
    torch.save(single, os.path.join(OUT, "pth_single.pt"))
    expected({"": single}, "pth_single")
    wrapped = {"model": collections.OrderedDict([
        ("llama.layers.0.attention.gate", torch.full((1, 2, 1, 1), 0.25).half()),
        ("llma.layers.0.attention.wq.bias", torch.arange(4, dtype=torch.float32)),
        ("prefix_query.weight", torch.randn(2, 4)),
    ])}
    torch.save(wrapped, os.path.join(OUT, "pth_wrapped.pt"))
    expected({"model/" + k: v for k, v in wrapped["model"].items()}, "pth_wrapped")

    # 7. the legacy (pre-1.6, non-zip) serialisation: must be rejected with a clear message
    torch.save({"w": torch.ones(2)}, os.path.join(OUT, "pth_legacy.pt"),
               _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
