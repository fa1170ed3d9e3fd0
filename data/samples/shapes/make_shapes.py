#!/usr/bin/python3
"""Generates the bundled "shapes" dataset: 32x32 RGB PNGs of one or two coloured shapes (circle,
square, triangle, cross, ring) at a position (left/right/top/bottom/centre) and size
(small/large) on a dark or grey background, with compositional captions (caption TSV), LLaVA image
questions with short exact answers, and an Alpaca text-only set (arithmetic, shape/colour facts).

Deterministic by construction, so a rerun is byte-identical: the only randomness is
random.Random(SEED).random() (the one method Python guarantees across versions), shapes are
rasterised with numpy masks (4x4 supersampling, integer blending) and the PNGs are written by the
small encoder below (fixed zlib level, no metadata) instead of PIL, so no drawing/encoder
version enters the bytes. All text is generated even with --limit (which renders only the first N
images of each split), so a quick partial rerun can be compared with the committed files.

Run with /usr/bin/python3 (needs numpy): make_shapes.py --out DIR [--limit N]
"""
import argparse
import json
import os
import random
import struct
import zlib

import numpy as np

SEED = 20261127
N_TRAIN = 1500
N_VAL = 100
N_ALPACA_TRAIN = 300
N_ALPACA_VAL = 30
SIZE = 32  # image side in pixels
SS = 4  # supersampling factor per axis (coverage counts 0..SS*SS)

COLOURS = {  # name -> RGB
    "red": (225, 45, 45),
    "green": (45, 185, 70),
    "blue": (55, 95, 235),
    "yellow": (240, 215, 40),
    "white": (245, 245, 245),
}
BACKGROUNDS = {"dark": (20, 20, 28), "grey": (118, 118, 118)}
SHAPES = ["circle", "square", "triangle", "cross", "ring"]
POSITIONS = ["left", "right", "top", "bottom", "centre"]
CENTRES = {"left": (8, 16), "right": (24, 16), "top": (16, 8), "bottom": (16, 24),
           "centre": (16, 16)}  # (x, y) in pixel-edge coordinates
PHRASE = {"left": "on the left", "right": "on the right", "top": "at the top",
          "bottom": "at the bottom", "centre": "in the centre"}
HALF = {"small": 4.0, "large": 7.0}  # half extent of a shape in pixels
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class Rng:
    """Choices drawn only from random.Random.random(), whose sequence Python keeps stable."""

    def __init__(self, seed):
        self._r = random.Random(seed)

    def below(self, n):
        return min(int(self._r.random() * n), n - 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, p):
        return self._r.random() < p

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):  # Fisher-Yates with our below()
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


# ----------------------------------------------------------------------------------- drawing
def sample_grid():
    """Sub-pixel sample coordinates (SIZE*SS, SIZE*SS): exact binary fractions."""
    c = (np.arange(SIZE * SS, dtype=np.float64) + 0.5) / SS
    return np.meshgrid(c, c)  # xs, ys (row = y)


def shape_mask(kind, cx, cy, r, xs, ys):
    u, v = xs - cx, ys - cy
    if kind == "circle":
        return u * u + v * v <= r * r
    if kind == "square":
        s = r * 0.85
        return (np.abs(u) <= s) & (np.abs(v) <= s)
    if kind == "triangle":  # apex up, base at v = +r
        return (v >= -r) & (v <= r) & (np.abs(u) <= (v + r) * 0.5)
    if kind == "cross":
        w = r / 3.0
        return ((np.abs(u) <= w) & (np.abs(v) <= r)) | ((np.abs(v) <= w) & (np.abs(u) <= r))
    if kind == "ring":
        d2 = u * u + v * v
        return (d2 <= r * r) & (d2 >= (0.5 * r) ** 2)
    raise ValueError(kind)


def render(spec, grid):
    xs, ys = grid
    img = np.empty((SIZE, SIZE, 3), dtype=np.int64)
    img[:] = BACKGROUNDS[spec["background"]]
    for s in spec["shapes"]:
        cx, cy = CENTRES[s["position"]]
        m = shape_mask(s["shape"], cx + s["dx"], cy + s["dy"], HALF[s["size"]], xs, ys)
        cover = m.reshape(SIZE, SS, SIZE, SS).sum(axis=(1, 3)).astype(np.int64)[..., None]
        colour = np.array(COLOURS[s["colour"]], dtype=np.int64)
        n = SS * SS
        img = (img * (n - cover) + colour * cover + n // 2) // n
    return img.astype(np.uint8)


def png_bytes(rgb):
    """Minimal PNG: 8-bit RGB, filter 0 on every row, zlib level 9, no ancillary chunks."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------------------------- specs
def make_spec(rng):
    background = rng.pick(list(BACKGROUNDS))
    if rng.chance(0.6):
        shapes = [{"shape": rng.pick(SHAPES), "colour": rng.pick(list(COLOURS)),
                   "position": rng.pick(POSITIONS), "size": rng.pick(list(HALF)),
                   "dx": rng.below(3) - 1, "dy": rng.below(3) - 1}]
    else:
        pair = rng.pick([("left", "right"), ("top", "bottom")])
        colours = list(COLOURS)
        c1 = rng.pick(colours)
        c2 = rng.pick([c for c in colours if c != c1])
        shapes = []
        for pos, col in zip(pair, (c1, c2)):
            j = rng.below(3) - 1  # jitter across the pair's axis only: the shapes never touch
            shapes.append({"shape": rng.pick(SHAPES), "colour": col, "position": pos,
                           "size": rng.pick(list(HALF)),
                           "dx": 0 if pair[0] == "left" else j,
                           "dy": j if pair[0] == "left" else 0})
    return {"background": background, "shapes": shapes}


def canonical_caption(spec):
    s = spec["shapes"]
    if len(s) == 1:
        a = s[0]
        return f"A {a['size']} {a['colour']} {a['shape']} {PHRASE[a['position']]}."
    a, b = s
    return (f"A {a['colour']} {a['shape']} {PHRASE[a['position']]} and "
            f"a {b['colour']} {b['shape']} {PHRASE[b['position']]}.")


def caption(spec, rng):
    """One of a few phrasings (the canonical one most often), at most 12 words."""
    s = spec["shapes"]
    k = rng.below(10)
    if len(s) == 1:
        a = s[0]
        if k < 5:
            return canonical_caption(spec)
        if k < 8:
            return (f"A {a['colour']} {a['shape']} {PHRASE[a['position']]} against a "
                    f"{spec['background']} background.")
        return f"There is a {a['size']} {a['colour']} {a['shape']} {PHRASE[a['position']]}."
    a, b = s
    if k < 6:
        return canonical_caption(spec)
    return (f"Two shapes: a {a['size']} {a['colour']} {a['shape']} and "
            f"a {b['size']} {b['colour']} {b['shape']}.")


def image_questions(spec):
    """All (question, answer) pairs this image supports."""
    s = spec["shapes"]
    qa = [("How many shapes are there?", "One." if len(s) == 1 else "Two."),
          ("What colour is the background?", spec["background"].capitalize() + "."),
          ("Describe the image briefly.", canonical_caption(spec))]
    if len(s) == 1:
        a = s[0]
        qa += [("What shape is in the image?", f"A {a['shape']}."),
               (f"What colour is the {a['shape']}?", a["colour"].capitalize() + "."),
               (f"Where is the {a['shape']}?", PHRASE[a["position"]].capitalize() + "."),
               (f"Is the {a['shape']} large or small?", a["size"].capitalize() + ".")]
    else:
        for a in s:
            where = PHRASE[a["position"]]
            qa += [(f"What shape is {where}?", f"A {a['shape']}."),
                   (f"What colour is the shape {where}?", a["colour"].capitalize() + "."),
                   (f"Where is the {a['colour']} shape?", where.capitalize() + ".")]
    return qa


def llava_entry(idx, image, spec, rng):
    qa = image_questions(spec)
    first = qa.pop(rng.below(len(qa)))
    second = qa[rng.below(len(qa))]
    q1 = f"<image>\n{first[0]}" if rng.chance(0.8) else f"{first[0]}\n<image>"
    return {"id": idx, "image": image, "conversations": [
        {"from": "human", "value": q1}, {"from": "gpt", "value": first[1]},
        {"from": "human", "value": second[0]}, {"from": "gpt", "value": second[1]}]}


def alpaca_pool():
    """Every text-only item, in a fixed order (shuffled and split by the caller)."""
    items = []
    for a in range(10):
        for b in range(10):
            items.append((f"What is {a} plus {b}?", "", f"{a + b}."))
            items.append(("Add the two numbers.", f"{a} and {b}", f"{a + b}."))
            if a > b:
                items.append((f"What is {a} minus {b}?", "", f"{a - b}."))
            if a != b:
                items.append((f"Which number is larger, {a} or {b}?", "", f"{max(a, b)}."))
    for n in range(9):
        items.append((f"What number comes after {n}?", "", f"{n + 1}."))
    for n in range(10):
        items.append(("Write the number as a word.", str(n), NUMBER_WORDS[n].capitalize() + "."))
    sides = {"triangle": "Three", "square": "Four"}
    for shape, n in sides.items():
        items.append((f"How many sides does a {shape} have?", "", f"{n}."))
        items.append((f"How many corners does a {shape} have?", "", f"{n}."))
    for shape in SHAPES:
        items.append(("Is this shape round?", shape,
                      "Yes." if shape in ("circle", "ring") else "No."))
    mixes = [("blue", "yellow", "Green"), ("red", "yellow", "Orange"), ("red", "blue", "Purple"),
             ("red", "white", "Pink"), ("black", "white", "Grey")]
    for x, y, z in mixes:
        items.append((f"What colour do you get by mixing {x} and {y}?", "", f"{z}."))
    items += [("Name a round shape.", "", "A circle."), ("Name a shape with a hole.", "", "A ring."),
              ("What colour is the sky on a clear day?", "", "Blue."),
              ("What colour is grass?", "", "Green."), ("What colour is snow?", "", "White.")]
    return items


# ---------------------------------------------------------------------------------- writing
def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json_rows(path, rows):
    """A JSON array with one entry per line (so file:line in errors names the entry)."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in rows]
    write_text(path, "[\n" + ",\n".join(lines) + "\n]\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--limit", type=int, default=-1,
                    help="render only the first N images of each split (texts are always complete)")
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)

    rng = Rng(SEED)
    grid = sample_grid()
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        specs = [make_spec(rng) for _ in range(n)]
        names = [f"images/{split}_{i:04d}.png" for i in range(n)]
        caps = [caption(s, rng) for s in specs]
        llava = [llava_entry(f"{split}_{i:04d}", names[i], s, rng) for i, s in enumerate(specs)]
        write_text(os.path.join(args.out, f"captions_{split}.tsv"),
                   "url\tcaption\n" + "".join(f"{p}\t{c}\n" for p, c in zip(names, caps)))
        write_json_rows(os.path.join(args.out, f"instructions_{split}.json"), llava)
        render_n = n if args.limit < 0 else min(n, args.limit)
        for i in range(render_n):
            with open(os.path.join(args.out, names[i]), "wb") as f:
                f.write(png_bytes(render(specs[i], grid)))

    pool = alpaca_pool()
    rng.shuffle(pool)
    rows = [{"instruction": q, "input": i, "output": a} for q, i, a in pool]
    write_json_rows(os.path.join(args.out, "alpaca_val.json"), rows[:N_ALPACA_VAL])
    write_json_rows(os.path.join(args.out, "alpaca_train.json"),
                    rows[N_ALPACA_VAL:N_ALPACA_VAL + N_ALPACA_TRAIN])


if __name__ == "__main__":
    main()
