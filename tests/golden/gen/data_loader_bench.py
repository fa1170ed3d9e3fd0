#!/usr/bin/python3
"""Loader throughput baseline: writes a synthetic set of JPEGs of mixed sizes plus a caption TSV,
then times a PIL + torchvision DataLoader doing the reference training transform
(RandomResizedCrop(224, scale=(0.9, 1), bicubic) -> ToTensor -> CLIP Normalize), batch 4, with
1 and 2 workers. The C++ side is the hidden test "[.bench]" (tests/unit/loader_bench_test.cpp),
which also tokenises. Not a fixture generator: nothing is committed from it.

Run: /usr/bin/python3 tests/golden/gen/data_loader_bench.py /tmp/ibllm_bench 3000
     IBLLM_DATA_BENCH_DIR=/tmp/ibllm_bench ./build/ibllm_tests "[.bench]"
"""
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

SIZES = [(320, 240), (640, 480), (500, 375), (1024, 768), (256, 256), (800, 600)]


def make(root, n):
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["url\tcaption"]
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        p = os.path.join("img", f"{i:05d}.jpg")
        if not os.path.exists(os.path.join(root, p)):
            base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((w, h), Image.BILINEAR)
            img.save(os.path.join(root, p), quality=90)
        rows.append(f"{p}\tA synthetic picture number {i} with some colourful noise.")
    with open(os.path.join(root, "captions.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")


class Images(Dataset):
    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "captions.tsv")) as f:
            self.rows = [l.rstrip("\n").split("\t") for l in f][1:]
        self.t = transforms.Compose([
            transforms.RandomResizedCrop(224, scale=(0.9, 1.0), ratio=(0.75, 1.3333),
                                         interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.ToTensor(),
            transforms.Normalize([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.t(Image.open(os.path.join(self.root, self.rows[i][0])).convert("RGB"))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ibllm_bench"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    make(root, n)
    torch.set_num_threads(1)
    ds = Images(root)
    for workers in (1, 2):
        dl = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers, drop_last=True,
                        prefetch_factor=4, persistent_workers=False)
        t0 = time.time()
        k = 0
        for b in dl:
            k += b.shape[0]
        dt = time.time() - t0
        print(f"python PIL+torchvision workers={workers}: {k} samples in {dt:.2f} s = {k / dt:.1f} samples/s")


if __name__ == "__main__":
    main()
