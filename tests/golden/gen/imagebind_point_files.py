"""Small point-cloud files in every supported format (tests/golden/fixtures/imagebind/points.*),
all holding the same 40 points (float64 written, compared in float32), plus malformed variants.
Writers are independent of the C++ parsers (numpy.save, struct-packed PLY). Run with /usr/bin/python3."""
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "imagebind")


def main():
    rng = np.random.RandomState(3)
    pts = rng.uniform(-2, 2, size=(40, 3))
    extra = rng.uniform(0, 1, size=(40, 3))  # normals/colours in some formats, must be dropped
    p = lambda n: os.path.join(FIX, n)  # noqa: E731
    np.save(p("points.npy"), np.concatenate([pts, extra], 1))
    np.save(p("points_f4.npy"), pts.astype(np.float32))
    np.save(p("points_bad_shape.npy"), pts[:, :2].copy())
    with open(p("points.xyz"), "w") as f:
        for r in pts:
            f.write("%.17g %.17g %.17g\n" % tuple(r))
    with open(p("points.obj"), "w") as f:
        f.write("# obj\n")
        for r in pts:
            f.write("v %.17g %.17g %.17g\n" % tuple(r))
        f.write("f 1 2 3\n")
    header = ("ply\nformat {fmt} 1.0\nelement vertex 40\nproperty float nx\nproperty double x\n"
              "property double y\nproperty double z\nproperty uchar red\nend_header\n")
    with open(p("points_ascii.ply"), "w") as f:
        f.write(header.format(fmt="ascii"))
        for r, e in zip(pts, extra):
            f.write("%.9g %.17g %.17g %.17g %d\n" % (e[0], r[0], r[1], r[2], int(e[1] * 255)))
    for name, fmt, order in (("points_le.ply", "binary_little_endian", "<"),
                             ("points_be.ply", "binary_big_endian", ">")):
        with open(p(name), "wb") as f:
            f.write(header.format(fmt=fmt).encode())
            for r, e in zip(pts, extra):
                f.write(struct.pack(order + "fdddB", e[0], r[0], r[1], r[2], int(e[1] * 255)))
    with open(p("points_le.ply"), "rb") as f:
        data = f.read()
    with open(p("points_truncated.ply"), "wb") as f:
        f.write(data[:-30])
    with open(p("points_nan.xyz"), "w") as f:
        f.write("0 0 0\n1 nan 2\n")
    safetensors_io.save({"points": torch.from_numpy(pts).float()}, p("points_expected.safetensors"),
                        {"generator": "imagebind_point_files.py"})


if __name__ == "__main__":
    main()
