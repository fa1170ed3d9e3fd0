"""Python-side check of files written by ibllm's C++ writers (run by tests/unit/io_pth_writer_test.cpp
with /usr/bin/python3; our own code). Tensor names encode what the values must be:
"<label>:<dtype>:<shape>" (shape "AxBxC", "-" for 0-d), values from pattern() below, which the C++
test restates. Checks, each failure printed as "FAIL: ..." with exit status 1:
  --safetensors F  parsed by hand (no safetensors package, not our safetensors_io.py): u64 header
                   length, JSON header, layout rules our writer promises, values bit for bit.
  --pth P          torch.load (and weights_only=True): structure {wrap: OrderedDict} (bare
                   OrderedDict with --wrap ""), dtype/shape/contiguity/requires_grad, values bit for
                   bit against pattern() and the safetensors copy; zip records, 64-byte alignment,
                   pickle opcodes and globals.
Prints "pth order: k1 k2 ..." so the caller can check that its order was kept."""
import argparse
import collections
import json
import pickletools
import struct
import sys
import zipfile

import numpy as np
import torch

DTYPES = {  # name -> (torch dtype, itemsize, safetensors name, integer dtype of the same width)
    "f64": (torch.float64, 8, "F64", torch.int64), "f32": (torch.float32, 4, "F32", torch.int32),
    "f16": (torch.float16, 2, "F16", torch.int16), "bf16": (torch.bfloat16, 2, "BF16", torch.int16),
    "i64": (torch.int64, 8, "I64", torch.int64), "i32": (torch.int32, 4, "I32", torch.int32),
    "i16": (torch.int16, 2, "I16", torch.int16), "i8": (torch.int8, 1, "I8", torch.int8),
    "u8": (torch.uint8, 1, "U8", torch.uint8), "bool": (torch.bool, 1, "BOOL", torch.uint8),
}
ST_NAME = {v[2]: k for k, v in DTYPES.items()}
# nan, inf, -inf, -0.0, largest finite, smallest subnormal (bit patterns).
FLOAT_SPECIALS = {
    "f64": [0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x8000000000000000,
            0x7FEFFFFFFFFFFFFF, 0x1],
    "f32": [0x7FC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x7F7FFFFF, 0x1],
    "f16": [0x7E00, 0x7C00, 0xFC00, 0x8000, 0x7BFF, 0x1],
    "bf16": [0x7FC0, 0x7F80, 0xFF80, 0x8000, 0x7F7F, 0x1],
}
TORCH_STORAGES = {"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage",
                  "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"}


class Fail(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise Fail(msg)


def parse_name(name):
    parts = name.split(":")
    require(len(parts) == 3 and parts[1] in DTYPES, f"tensor name {name!r} is not label:dtype:shape")
    shape = [] if parts[2] == "-" else [int(d) for d in parts[2].split("x")]
    return parts[1], shape


def signed(bits, width):
    return bits - (1 << (8 * width)) if bits >= 1 << (8 * width - 1) else bits


def pattern(dt, shape):
    """m_i = (37 i + 11) mod 97; floats (m-48)/8, signed ints m-48, u8 m, bool m%3==0; then the
    first elements are overwritten with special values (floats: FLOAT_SPECIALS; ints: min, max)."""
    torch_dt, size, _, int_dt = DTYPES[dt]
    n = 1
    for d in shape:
        n *= d
    m = [(37 * i + 11) % 97 for i in range(n)]
    if dt in FLOAT_SPECIALS:
        t = torch.tensor([(x - 48) / 8 for x in m], dtype=torch.float64).to(torch_dt)
        if n >= len(FLOAT_SPECIALS[dt]):
            bits = t.view(int_dt)
            for k, b in enumerate(FLOAT_SPECIALS[dt]):
                bits[k] = signed(b, size)
    elif dt == "bool":
        t = torch.tensor([x % 3 == 0 for x in m], dtype=torch.bool)
    else:
        t = torch.tensor([x if dt == "u8" else x - 48 for x in m], dtype=torch.int64).to(torch_dt)
        if n >= 2:
            info = torch.iinfo(torch_dt)
            t[0], t[1] = info.min, info.max
    return t.reshape(shape)


def bits_of(t):
    """Flat integer view of a tensor's bytes (bool as uint8), for bitwise comparison."""
    t = t.detach().contiguous().reshape(-1)
    dt = next(k for k, v in DTYPES.items() if v[0] == t.dtype)
    return t.to(torch.uint8) if t.dtype == torch.bool else t.view(DTYPES[dt][3])


def same_bits(a, b):
    return a.dtype == b.dtype and list(a.shape) == list(b.shape) and torch.equal(bits_of(a), bits_of(b))


def check_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    require(len(raw) >= 8, f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    require(8 + n <= len(raw), f"{path}: header length {n} runs past the end of the file")
    require(n % 8 == 0, f"{path}: header length {n} is not a multiple of 8")
    text = raw[8:8 + n].decode("utf-8")
    require(text.startswith("{"), f"{path}: header does not start with '{{'")
    body = text.rstrip(" ")
    require(body.endswith("}"), f"{path}: header padding is not spaces after the JSON object")
    header = json.loads(body, object_pairs_hook=collections.OrderedDict)
    buf = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    require(isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in meta.items()), "__metadata__ not str -> str")
    entries = []
    for name, info in header.items():
        require(set(info) == {"dtype", "shape", "data_offsets"}, f"{name}: keys {sorted(info)}")
        require(info["dtype"] in ST_NAME, f"{name}: unknown dtype {info['dtype']}")
        dt = ST_NAME[info["dtype"]]
        want_dt, want_shape = parse_name(name)
        require(dt == want_dt, f"{name}: dtype {info['dtype']} in the header")
        require(info["shape"] == want_shape, f"{name}: shape {info['shape']} != {want_shape}")
        b, e = info["data_offsets"]
        size = DTYPES[dt][1]
        numel = 1
        for d in info["shape"]:
            numel *= d
        require(e - b == numel * size, f"{name}: data_offsets {b},{e} for {numel} x {size} bytes")
        require((8 + n + b) % size == 0, f"{name}: starts at file offset {8 + n + b}, misaligned")
        entries.append((b, e, name, dt))
    entries.sort()
    pos = 0
    for b, e, name, _ in entries:
        require(b == pos, f"{name}: begins at {b}, previous tensor ended at {pos} (gap/overlap)")
        pos = e
    require(pos == len(buf), f"buffer has {len(buf)} bytes, tensors cover {pos}")
    # Writer promise: element size descending, then name.
    order = [name for _, _, name, _ in entries]
    want = sorted(order, key=lambda k: (-DTYPES[parse_name(k)[0]][1], k))
    require(order == want, f"tensor order in the buffer {order} != size-then-name {want}")
    out = {}
    for b, e, name, dt in entries:
        _, size, _, _ = DTYPES[dt]
        ints = np.frombuffer(buf[b:e], dtype=f"<u{size}")  # numpy only: independent of torch I/O
        expected = pattern(dt, parse_name(name)[1])
        exp_ints = bits_of(expected).numpy().view(f"<u{size}")
        require(np.array_equal(ints, exp_ints), f"{name}: values differ from the pattern")
        if dt == "bool":
            require(set(np.unique(ints)) <= {0, 1}, f"{name}: bool bytes other than 0/1")
        t = torch.from_numpy(ints.astype(np.int64) if size < 8 else ints.view(np.int64).copy())
        t = t.to(torch.uint8).bool() if dt == "bool" else t.to(DTYPES[dt][3]).view(DTYPES[dt][0])
        out[name] = t.reshape(parse_name(name)[1])
    print(f"safetensors ok: {len(out)} tensors, header {n} bytes, buffer {len(buf)} bytes, "
          f"metadata {json.dumps(meta, sort_keys=True)}")
    return out


def local_data_offset(raw, info):
    """Start of a record's bytes, from the zip local header (not the central directory)."""
    h = info.header_offset
    require(raw[h:h + 4] == b"PK\x03\x04", f"{info.filename}: no local header")
    name_len, extra_len = struct.unpack("<HH", raw[h + 26:h + 30])
    return h + 30 + name_len + extra_len


def check_archive(path, count):
    with open(path, "rb") as f:
        raw = f.read()
    z = zipfile.ZipFile(path)
    names = [i.filename for i in z.infolist()]
    want = {"archive/data.pkl", "archive/byteorder", "archive/version"}
    want |= {f"archive/data/{i}" for i in range(count)}
    # LibTorch >= 2.1 adds records under archive/.data/ (serialization_id); nothing else may appear.
    extra = {x for x in set(names) - want if not x.startswith("archive/.data/")}
    require(want <= set(names) and not extra, f"zip records {names}")
    require(names[0] == "archive/data.pkl", f"first record is {names[0]}")
    require(z.read("archive/byteorder") == b"little", "byteorder record")
    require(int(z.read("archive/version").decode().strip()) >= 1, "version record")
    for info in z.infolist():
        require(info.compress_type == zipfile.ZIP_STORED, f"{info.filename} is compressed")
        if info.filename.startswith("archive/data/"):
            off = local_data_offset(raw, info)
            require(off % 64 == 0, f"{info.filename}: data at offset {off}, not 64-byte aligned")
    ops, globals_seen = set(), set()
    for opcode, arg, _ in pickletools.genops(z.read("archive/data.pkl")):
        ops.add(opcode.name)
        require(opcode.proto <= 2, f"opcode {opcode.name} needs protocol {opcode.proto}")
        if opcode.name == "GLOBAL":
            globals_seen.add(arg)
    allowed = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2"}
    allowed |= {f"torch {s}" for s in TORCH_STORAGES}
    require(globals_seen <= allowed, f"unexpected globals {sorted(globals_seen - allowed)}")
    return sorted(ops)


def check_pth(path, wrap, st):
    for weights_only in (False, True):
        obj = torch.load(path, map_location="cpu", weights_only=weights_only)
        if wrap:
            require(type(obj) is dict and list(obj) == [wrap], f"top level {type(obj)} {list(obj)}")
            obj = obj[wrap]
        require(type(obj) is collections.OrderedDict, f"state dict is {type(obj)}")
        for name, t in obj.items():
            dt, shape = parse_name(name)
            require(type(t) is torch.Tensor, f"{name}: {type(t)}")
            require(t.dtype == DTYPES[dt][0], f"{name}: dtype {t.dtype}")
            require(list(t.shape) == shape, f"{name}: shape {list(t.shape)} != {shape}")
            require(t.is_contiguous() and t.storage_offset() == 0, f"{name}: not contiguous")
            require(not t.requires_grad, f"{name}: requires_grad")
            require(same_bits(t, pattern(dt, shape)), f"{name}: values differ from the pattern")
            if st is not None:
                require(name in st, f"{name}: not in the safetensors copy")
                require(same_bits(t, st[name]), f"{name}: differs from the safetensors copy")
        if st is not None:
            require(set(st) == set(obj), f"names differ: {sorted(set(st) ^ set(obj))}")
        print(f"pth ok (weights_only={weights_only}): {len(obj)} tensors")
    ops = check_archive(path, len(obj))
    print("pth order: " + " ".join(obj))
    print("pth opcodes: " + " ".join(ops))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--safetensors")
    ap.add_argument("--pth")
    ap.add_argument("--wrap", default="model")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    try:
        st = check_safetensors(a.safetensors) if a.safetensors else None
        if a.pth:
            check_pth(a.pth, a.wrap, st)
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
