#!/usr/bin/python3
"""Expected rank orders of the samplers, from torch 1.13 itself: torch.utils.data.DistributedSampler
(shuffle, seed, set_epoch) batched like DataLoader(drop_last=False/True), and the reference
DistributedSubEpochSampler of ImageBind-LLM pre-training, restated from spec §3.6 (permutation
seeded by seed + epoch // split, padded with its head to a multiple of world*split, rank r takes
every (world*split)-th index from r*split + epoch % split).

Run: /usr/bin/python3 tests/golden/gen/data_sampler_order.py
"""
import json
import math
import os

import torch
from torch.utils.data import DistributedSampler

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "data", "sampler_order.json")


def batches(indices, b, drop_last):
    out = [indices[i:i + b] for i in range(0, len(indices), b)]
    if drop_last and out and len(out[-1]) < b:
        out.pop()
    return out


def sub_epoch(n, world, rank, split, seed, epoch):
    g = torch.Generator()
    g.manual_seed(seed + epoch // split)
    idx = torch.randperm(n, generator=g).tolist()
    total = math.ceil(n / (world * split)) * world * split
    idx += idx[: total - n]
    return idx[rank * split + epoch % split: total: world * split]


def main():
    cases = []
    for n, world, b, seed in [(23, 3, 2, 7), (10, 2, 3, 0), (64, 4, 4, 11)]:
        for epoch in (0, 1):
            for drop in (False, True):
                ranks = []
                for r in range(world):
                    s = DistributedSampler(list(range(n)), num_replicas=world, rank=r, shuffle=True, seed=seed)
                    s.set_epoch(epoch)
                    ranks.append(batches(list(s), b, drop))
                cases.append({"kind": "distributed", "n": n, "world": world, "batch": b, "seed": seed,
                              "epoch": epoch, "last_batch": "drop" if drop else "pad", "ranks": ranks})
    for n, world, b, split, seed in [(50, 2, 2, 3, 5), (17, 3, 1, 4, 0)]:
        for epoch in (0, 1, 2, 3, 4):
            ranks = [batches(sub_epoch(n, world, r, split, seed, epoch), b, True) for r in range(world)]
            cases.append({"kind": "sub_epoch", "n": n, "world": world, "batch": b, "seed": seed,
                          "split": split, "epoch": epoch, "last_batch": "drop", "ranks": ranks})
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
