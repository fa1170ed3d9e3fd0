"""Golden fixture for the video clip transform (data/transforms/video.*), restating ImageBind's
load_and_transform_video_data after decoding (spec §1.4.4): UniformTemporalSubsample(2) (indices
long(linspace(0, T-1, 2))), /255, pytorchvideo ShortSideScale (F.interpolate bilinear,
align_corners=False, floor((long/short)*size)), NormalizeVideo, SpatialCrop(size, 3) with
ImageBind's uniform_crop offsets. A small size (16) keeps the fixture tiny; landscape and portrait
clips. Writes tests/golden/fixtures/imagebind/video_clip.safetensors. Run with /usr/bin/python3."""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SIZE = 16


def short_side_scale(x, size):
    c, t, h, w = x.shape
    if w < h:
        new_h, new_w = int(math.floor((float(h) / w) * size)), size
    else:
        new_h, new_w = size, int(math.floor((float(w) / h) * size))
    return F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)


def uniform_crop(images, size, idx):
    height, width = images.shape[2], images.shape[3]
    y = int(math.ceil((height - size) / 2))
    x = int(math.ceil((width - size) / 2))
    if height > width:
        y = 0 if idx == 0 else (height - size if idx == 2 else y)
    else:
        x = 0 if idx == 0 else (width - size if idx == 2 else x)
    return images[:, :, y:y + size, x:x + size]


def transform(frames):
    idx = torch.linspace(0, frames.shape[1] - 1, 2).long()
    v = torch.index_select(frames, 1, idx) / 255.0
    v = short_side_scale(v, SIZE)
    v = (v - torch.tensor(MEAN).view(3, 1, 1, 1)) / torch.tensor(STD).view(3, 1, 1, 1)
    return torch.stack([uniform_crop(v, SIZE, i) for i in range(3)])


def main():
    g = torch.Generator().manual_seed(5)
    t = {}
    for name, shape in (("landscape", (3, 7, 23, 37)), ("portrait", (3, 4, 41, 19))):
        frames = torch.randint(0, 256, shape, generator=g).float()
        t[name + ".frames"] = frames.to(torch.uint8)
        t[name + ".crops"] = transform(frames).contiguous()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "imagebind",
                       "video_clip.safetensors")
    safetensors_io.save(t, out, {"generator": "imagebind_video_fixtures.py", "size": str(SIZE)})
    print(out, os.path.getsize(out))


if __name__ == "__main__":
    main()
