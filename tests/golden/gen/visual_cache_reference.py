"""Writes the visual-cache golden fixtures (tests/golden/fixtures/visual_cache/): a small
`ibllm embed`-style source file and the spec §4 results computed here with torch 1.13.

Run from the repository root with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/gen/visual_cache_reference.py
Our own restatement of LLaMA-Adapter's forward_visual cache step (imagebind_LLM llama_adapter.py):
faiss flat inner-product search replaced by an explicit top-k of q @ index.T over the same stored
rows (L2-normalised in fp32, stored fp16, as `ibllm build-cache` does). Two settings: the release
defaults (K=10, τ=20, β=0.5) and the first release's (K=5, τ=100, β=0.5). Also stored: the
reference's batched matmul `softmax(τs) @ P`, which broadcasts to (B,B,D) and mixes samples.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "visual_cache")
META = {"generator": "tests/golden/gen/visual_cache_reference.py", "torch": torch.__version__}
N, D, B = 200, 32, 3
SETTINGS = [(10, 20.0, 0.5), (5, 100.0, 0.5)]


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(2309)
    emb = torch.randn(N, D, generator=g) * torch.rand(N, 1, generator=g).add(0.5)
    keys = ["cc3m/%06d.jpg" % i for i in range(N)]
    safetensors_io.save({"embeddings": emb}, os.path.join(OUT, "source.safetensors"),
                        {**META, "paths": json.dumps(keys)})

    stored = (emb / emb.norm(dim=-1, keepdim=True)).half().float()
    # Queries near some cached rows, so the neighbours and weights are not all alike.
    q = stored[[3, 77, 150]] + 0.3 * torch.randn(B, D, generator=g)
    q = q / q.norm(dim=-1, keepdim=True)
    out = {"query": q}
    for k, tau, beta in SETTINGS:
        tag = "k%d_t%d" % (k, int(tau))
        sims, ids = (q @ stored.t()).topk(k, dim=-1)
        protos = stored[ids]                                  # (B, K, D)
        a = (sims * tau).softmax(dim=-1)
        mixed = []
        for b in range(B):                                    # per sample (spec §4)
            r = (a[b].unsqueeze(-1) * protos[b]).sum(0)
            r = r / r.norm()
            f = (1 - beta) * q[b] + beta * r
            mixed.append(f / f.norm())
        out[tag + ".ids"] = ids
        out[tag + ".scores"] = sims
        out[tag + ".weights"] = a
        out[tag + ".output"] = torch.stack(mixed)
        quirk = a @ protos                                    # reference: (B, B, D)
        out[tag + ".reference_matmul"] = quirk
    safetensors_io.save(out, os.path.join(OUT, "expected.safetensors"), META)


if __name__ == "__main__":
    main()
