"""Golden fixtures for the ImageBind-LLM composite (tests/golden/fixtures/imagebind_llm/).

Our own restatement of spec §3.1-§3.3 on top of llama_reference.py: modality mixing
(w / (sum w + 1e-6), no renormalisation), the bind network (stable RMSNorm variant and the legacy
LayerNorm + biased Linear variant, hidden = 4*dim), a_l = T + prefix_query[l] injected in every
layer through tanh(gate). Run from the repository root with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/gen/imagebind_llm_fixtures.py
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "imagebind_llm")
IN_DIM = 16


class BindNet(nn.Module):
    """x0 = proj(f); x_k = x_{k-1} + f2_k(silu(f1_k n) * f3_k n), n = norm_k(x_{k-1})."""

    def __init__(self, in_dim, dim, legacy, n_blocks=3):
        super().__init__()
        h = 4 * dim
        self.n_blocks = n_blocks
        self.image_bind_proj = nn.Linear(in_dim, dim)
        for k in range(1, n_blocks + 1):
            norm = nn.LayerNorm(dim) if legacy else ref.RMSNorm(dim, 1e-6)
            setattr(self, f"image_bind_norm_{k}", norm)
            setattr(self, f"image_bind_f1_{k}", nn.Linear(dim, h, bias=legacy))
            setattr(self, f"image_bind_f2_{k}", nn.Linear(h, dim, bias=legacy))
            setattr(self, f"image_bind_f3_{k}", nn.Linear(dim, h, bias=legacy))

    def forward(self, f):
        x = self.image_bind_proj(f.unsqueeze(1))
        for k in range(1, self.n_blocks + 1):
            n = getattr(self, f"image_bind_norm_{k}")(x)
            f1, f2, f3 = (getattr(self, f"image_bind_f{i}_{k}") for i in (1, 2, 3))
            x = x + f2(F.silu(f1(n)) * f3(n))
        return x


class Composite(nn.Module):
    def __init__(self, a, legacy=False):
        super().__init__()
        self.llama = ref.Transformer(a)
        self.bind = BindNet(IN_DIM, a.dim, legacy)
        self.prefix_query = nn.Embedding(a.n_layers, a.dim)

    def forward(self, tokens, f):
        t = self.bind(f)
        adapters = [t + self.prefix_query.weight[i].view(1, 1, -1)
                    for i in range(self.llama.args.n_layers)]
        return self.llama(tokens, adapters), t


def flat_state(m):
    """Reference key names: the bind network sits at the top level (image_bind_proj.weight...)."""
    out = {}
    for k, v in m.state_dict().items():
        out[k[len("bind."):] if k.startswith("bind.") else k] = v.detach().clone()
    return out


def seeded(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            n = torch.randn(p.shape, generator=g)
            if name.endswith("gate"):
                p.copy_(0.8 * n)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * n)
            elif name.endswith("bias"):
                p.copy_(0.1 * n)
            elif "lora" in name and name.endswith("_l2.weight"):
                p.copy_(0.3 * n / p.shape[1] ** 0.5)
            elif p.dim() == 2 and "prefix" not in name and "tok_embeddings" not in name:
                p.copy_(n / p.shape[1] ** 0.5)
            else:
                p.copy_(n)


def main():
    os.makedirs(OUT, exist_ok=True)
    a = ref.Args(w_bias=True, w_lora=True, n_kv_heads=2)
    g = torch.Generator().manual_seed(7)
    B, S, V = 3, 8, a.vocab_size
    tokens = torch.randint(3, V, (B, S), generator=g)
    tokens[:, 0] = 1
    labels = tokens.clone()
    labels[:, :3] = 0
    labels[2, -2:] = 0
    e1 = F.normalize(torch.randn(B, IN_DIM, generator=g), dim=-1)
    e2 = F.normalize(torch.randn(B, IN_DIM, generator=g), dim=-1)
    w1, w2 = 1.0, 3.0
    f = e1 * (w1 / (w1 + w2 + 1e-6)) + e2 * (w2 / (w1 + w2 + 1e-6))

    out = {"tokens": tokens, "labels": labels, "e1": e1, "e2": e2, "f": f,
           "weights": torch.tensor([w1, w2], dtype=torch.float64)}
    m = Composite(a)
    seeded(m, 4321)
    for k, v in flat_state(m).items():
        out["state." + k] = v
    logits, t = m(tokens, f)
    loss = ref.lm_loss(logits, labels)
    loss.backward()
    out["bind_out"] = t.detach()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(1)
    # gradients of part of the pretrain trainable set (first/last bind layers, prefix, gates)
    for name, p in m.named_parameters():
        key = name[len("bind."):] if name.startswith("bind.") else name
        if key.startswith(("image_bind_proj", "image_bind_norm_1", "image_bind_f2_3",
                           "prefix_query")) or key.endswith("gate"):
            out["grad." + key] = p.grad.clone()
    # legacy bridge (LayerNorm eps 1e-5 + biased Linears), one block: its own state and output
    lb = BindNet(IN_DIM, a.dim, legacy=True, n_blocks=1)
    seeded(lb, 99)
    for k, v in lb.state_dict().items():
        out["legacy.state." + k] = v.detach().clone()
    with torch.no_grad():
        out["legacy.bind_out"] = lb(f)
    meta = {"generator": "tests/golden/gen/imagebind_llm_fixtures.py", "in_dim": str(IN_DIM)}
    safetensors_io.save(out, os.path.join(OUT, "composite.safetensors"), meta)


if __name__ == "__main__":
    main()
