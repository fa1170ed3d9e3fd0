"""Writes the optimiser golden fixtures (tests/golden/fixtures/optim/) with torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_ as the reference.

Run from the repository root with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/gen/adamw_reference.py
Fixed seed, fp32, CPU. Param groups follow the reference rule (LLaMA-Adapter util/misc.py
add_weight_decay, restated): no weight decay for 1-D tensors and names ending in ".bias".
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "optim")
META = {"generator": "tests/golden/gen/adamw_reference.py", "torch": torch.__version__}

# Names as they appear in the ImageBind-LLM trainable set; shapes shrunk.
PARAMS = [
    ("image_bind_proj.weight", (6, 4)),             # 2-D: decay
    ("image_bind_proj.bias", (6,)),                 # 1-D and .bias: no decay
    ("image_bind_norm_1.weight", (6,)),             # 1-D: no decay
    ("llama.layers.0.attention.gate", (1, 4, 1, 1)),  # 4-D: decay
    ("prefix_query.weight", (2, 6)),                # 2-D: decay
    ("synthetic_2d.bias", (2, 3)),                  # 2-D but named .bias: no decay
    ("scalar_gain", ()),                            # 0-D: decay (len(shape) != 1)
]
LRS = [1.0e-3, 2.0e-3, 5.0e-4, 3.0e-3, 1.0e-4]
NO_GRAD_AT = {2: "llama.layers.0.attention.gate"}  # step index -> parameter without a grad
WEIGHT_DECAY, BETAS, EPS = 0.05, (0.9, 0.95), 1e-8


def uses_weight_decay(name, p):
    return not (p.dim() == 1 or name.endswith(".bias"))


def make_params(g):
    return {n: torch.nn.Parameter(torch.randn(s, generator=g)) for n, s in PARAMS}


def adamw_case():
    g = torch.Generator().manual_seed(1234)
    params = make_params(g)
    out = {f"init.{n}": p.detach().clone() for n, p in params.items()}
    out["lr"] = torch.tensor(LRS, dtype=torch.float64)
    out["decay_mask"] = torch.tensor(
        [uses_weight_decay(n, params[n]) for n, _ in PARAMS], dtype=torch.uint8)
    decay = [p for n, p in params.items() if uses_weight_decay(n, p)]
    no_decay = [p for n, p in params.items() if not uses_weight_decay(n, p)]
    opt = torch.optim.AdamW(
        [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": WEIGHT_DECAY}],
        lr=LRS[0], betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY, foreach=False)
    for step, lr in enumerate(LRS):
        for group in opt.param_groups:
            group["lr"] = lr
        for i, (n, p) in enumerate(params.items()):
            # Different scales per tensor and step so the second moment matters.
            grad = torch.randn(p.shape, generator=g) * (0.1 * (i + 1)) * (1.0 + step)
            if NO_GRAD_AT.get(step) == n:
                p.grad = None
                continue
            p.grad = grad
            out[f"grad.{step}.{n}"] = grad.clone()
        opt.step()
        for n, p in params.items():
            out[f"param.{step}.{n}"] = p.detach().clone()
    for n, p in params.items():
        st = opt.state[p]
        out[f"state.{n}.exp_avg"] = st["exp_avg"].clone()
        out[f"state.{n}.exp_avg_sq"] = st["exp_avg_sq"].clone()
        out[f"state.{n}.step"] = torch.tensor(int(st["step"].item()), dtype=torch.int64)
    meta = dict(META, names=",".join(n for n, _ in PARAMS), weight_decay=str(WEIGHT_DECAY),
                betas=f"{BETAS[0]},{BETAS[1]}", eps=str(EPS))
    safetensors_io.save(out, os.path.join(OUT, "adamw_steps.safetensors"), meta)


def clip_case():
    g = torch.Generator().manual_seed(99)
    out = {}
    grads = [torch.randn(s, generator=g) for s in [(5, 7), (7,), (3, 2, 2)]]
    for i, gr in enumerate(grads):
        out[f"grad.{i}"] = gr
    for tag, max_norm in [("clipped", 1.0), ("unclipped", 1.0e3)]:
        ps = [torch.nn.Parameter(torch.zeros_like(gr)) for gr in grads]
        for p, gr in zip(ps, grads):
            p.grad = gr.clone()
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
        out[f"{tag}.total_norm"] = total.clone()
        for i, p in enumerate(ps):
            out[f"{tag}.grad.{i}"] = p.grad.clone()
    safetensors_io.save(out, os.path.join(OUT, "clip_grad_norm.safetensors"),
                        dict(META, clipped_max_norm="1.0", unclipped_max_norm="1000.0"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    adamw_case()
    clip_case()
