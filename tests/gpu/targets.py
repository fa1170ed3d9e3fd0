#!/usr/bin/env python3
"""Issue 17's targets, one summary line each, from the JSON lines tests/gpu/check.sh collected.

  python3 tests/gpu/targets.py <out_dir>        (reads bench_*.jsonl, baseline.jsonl, runs/)
  python3 tests/gpu/targets.py --no-device      ("not measured: no CUDA device" for every target)

A target whose numbers are missing (step failed or timed out) says "not measured" and why; nothing
is estimated. HBM bound for decode = peak HBM bandwidth / bytes of the LLaMA weights.
"""
import glob
import json
import os
import sys

TARGETS = [
    "pretrain 4x96: <= 43 ms/step, peak <= 28.6 GiB",
    "pretrain 16x96: <= 65 ms/step",
    "finetune 4x512: <= 131 ms/step and >= 55 % MFU",
    "decode 7B bf16 batch 1: >= 70 % of the HBM bound (batch 8/32 reported)",
    "loader wait: < 2 % of the step",
]
HBM = [("H200", 4.8e12), ("H100 NVL", 3.9e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12)]


def rows(path):
    out = []
    for f in glob.glob(path):
        for line in open(f):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def find(rs, **kv):
    for r in rs:
        if all(r.get(k) == v for k, v in kv.items()):
            return r
    return None


def base(bl, case):
    r = find(bl, case=case)
    return f"; official eager {r['step_ms']:.0f} ms" if r else "; official eager: not measured"


def line(i, verdict):
    print(f"target: {TARGETS[i]} | {verdict}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--no-device":
        for i in range(len(TARGETS)):
            line(i, "not measured: no CUDA device")
        return
    out = sys.argv[1]
    pre = rows(os.path.join(out, "bench_pretrain.jsonl"))
    ft = rows(os.path.join(out, "bench_finetune.jsonl"))
    dec = rows(os.path.join(out, "bench_decode.jsonl"))
    bl = rows(os.path.join(out, "baseline.jsonl"))
    r = find(pre, batch=4)
    line(0, f"{r['step_ms']:.1f} ms, peak {r['peak_mem_gib']:.1f} GiB, phases {r.get('phase_ms')}"
            + (" PASS" if r["step_ms"] <= 43 and r["peak_mem_gib"] <= 28.6 else " MISS")
            + base(bl, "pretrain_4x96") if r else "not measured: bench failed")
    r = find(pre, batch=16)
    line(1, f"{r['step_ms']:.1f} ms" + (" PASS" if r["step_ms"] <= 65 else " MISS")
            + base(bl, "pretrain_16x96") if r else "not measured: bench failed")
    r = find(ft, batch=4)
    if r:
        mfu = r.get("mfu")
        ok = r["step_ms"] <= 131 and mfu is not None and mfu >= 0.55
        line(2, f"{r['step_ms']:.1f} ms, MFU {mfu if mfu is None else round(100 * mfu, 1)} %"
                + (" PASS" if ok else " MISS") + base(bl, "finetune_4x512"))
    else:
        line(2, "not measured: bench failed")
    r = find(dec, batch=1)
    if r:
        bw = next((b for n, b in HBM if n.lower() in r["device"].lower()), None)
        if bw is None:
            line(3, f"{r['tokens_per_s']:.0f} tok/s on {r['device']} (no HBM figure for this GPU)")
        else:
            bound = bw / (r["weights_gib"] * 2**30)
            more = ", ".join(f"batch {d['batch']}: {d['tokens_per_s']:.0f} tok/s" for d in dec if d["batch"] != 1)
            b1 = find(bl, case="decode_b1")
            line(3, f"{r['tokens_per_s']:.0f} tok/s ({r['ms_per_token']:.2f} ms/token) = "
                    f"{100 * r['tokens_per_s'] / bound:.0f} % of {bound:.0f} tok/s"
                    + (" PASS" if r["tokens_per_s"] >= 0.7 * bound else " MISS")
                    + (f"; {more}" if more else "")
                    + (f"; official eager {b1['tokens_per_s']:.1f} tok/s" if b1 else ""))
    else:
        line(3, "not measured: bench failed")
    waits = [m for m in rows(os.path.join(out, "runs", "*", "metrics.jsonl")) if "data_wait_ms" in m]
    if waits:
        w = waits[-1]
        frac = w["data_wait_ms"] / max(w["step_ms"], 1e-9)
        line(4, f"{100 * frac:.2f} % ({w['data_wait_ms']:.2f} of {w['step_ms']:.1f} ms, tiny model on "
                "the bundled data: a faster step than 7B, so an upper bound)"
                + (" PASS" if frac < 0.02 else " MISS"))
    else:
        line(4, "not measured: the short ibllm train run failed (the GPU machine has no OpenCV "
                "to decode the bundled images) or logged no step")


if __name__ == "__main__":
    main()
