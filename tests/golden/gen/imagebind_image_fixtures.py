"""Golden fixtures for the image pipeline (data/image_*): PIL itself is the reference (spec
§1.4.1: torchvision Resize(224, BICUBIC) on a PIL image = Image.resize(size, BICUBIC), then a
centre crop with Python rounding, ToTensor, CLIP normalisation). Writes
tests/golden/fixtures/imagebind/image_pil.safetensors with
  synthetic.src (23,37,3) uint8 and synthetic.<case> PIL bicubic outputs (several up/down sizes,
  one-axis resizes and a crop box, i.e. RandomResizedCrop's resized_crop),
  <asset>.crop (224,224,3) uint8 = decode + resize + centre crop of the shared demo images,
  <asset>.size = (H, W) of the decoded image, and <asset>.normalized[:, :8, :8] spot values.
Needs python3-pil (apt-get install python3-pil). Run: /usr/bin/python3 tests/golden/gen/imagebind_image_fixtures.py
(shared assets: $IBLLM_SHARED_DIR, else <repo>/../shared)"""
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.environ.get("IBLLM_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "..", "shared"))
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
# name -> (out_w, out_h, box or None); box = (left, top, right, bottom) in source pixels
CASES = {
    "down": (11, 7, None), "up": (64, 50, None), "rows_only": (37, 10, None),
    "cols_only": (15, 23, None), "mixed": (80, 9, None), "box": (16, 16, (5, 3, 30, 21)),
}


def reference_transform(img):
    """torchvision Resize(224, BICUBIC) + CenterCrop(224) on a PIL RGB image (uint8 HWC)."""
    w, h = img.size
    if w <= h:
        size = (224, int(224 * h / w))
    else:
        size = (int(224 * w / h), 224)
    img = img.resize(size, Image.BICUBIC)
    w, h = img.size
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    return np.asarray(img.crop((left, top, left + 224, top + 224)))


def main():
    rng = np.random.RandomState(7)
    src = rng.randint(0, 256, size=(23, 37, 3), dtype=np.uint8)
    src[:4, :6] = 255  # saturated corner: exercises the clip at 255 after negative lobes
    src[-4:, -6:] = 0
    t = {"synthetic.src": torch.from_numpy(src)}
    pil = Image.fromarray(src, "RGB")
    for name, (w, h, box) in CASES.items():
        out = pil.resize((w, h), Image.BICUBIC, box=box)
        t["synthetic." + name] = torch.from_numpy(np.asarray(out).copy())
    for asset in ("dog_image.jpg", "example_girl.jpg"):
        path = os.path.join(ASSETS, "assets", asset)
        img = Image.open(path).convert("RGB")
        key = asset.split(".")[0]
        crop = reference_transform(img)
        t[key + ".size"] = torch.tensor([img.size[1], img.size[0]], dtype=torch.int64)
        t[key + ".crop"] = torch.from_numpy(crop.copy())
        x = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0
        x = (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
        t[key + ".normalized_corner"] = x[:, :8, :8].contiguous()
    out = os.path.join(HERE, "..", "fixtures", "imagebind", "image_pil.safetensors")
    safetensors_io.save(t, out, {"generator": "imagebind_image_fixtures.py", "pil": Image.__version__})
    print(out, os.path.getsize(out))


if __name__ == "__main__":
    main()
