#!/usr/bin/env python3
"""Baseline for issue 17: the official ImageBind-LLM training step as plain PyTorch eager code.

Written by us from ../shared/docs/imagebind_llm_spec.md (§1.1-1.2 ImageBind-Huge vision trunk,
§2 LLaMA-7B, §3.2 bind network, §3.3 gated injection, §3.4 bias + LoRA-16, §3.6 recipe) and
../shared/docs/gpu_machine.md (how the official numbers were taken): frozen LLaMA in fp16, frozen
ImageBind vision in fp32, fp16 autocast + GradScaler, eager attention (fp32 softmax), the complex
RoPE, AdamW on the trainable set, grad clipping on, 3 warm-up + 8 timed steps, random weights.
It prints one JSON line per case (ms/step, peak memory; decode: tokens/s), so tests/gpu/check.sh
can put ibllm's numbers next to the official recipe's on the same GPU.

  python3 tests/gpu/baseline_official.py            # 7B shapes on CUDA: pretrain 4x96, 16x96,
                                                    # finetune 4x512, decode batch 1
  python3 tests/gpu/baseline_official.py --tiny     # tiny shapes, CPU ok (the CTest entry)

On the CPU (--tiny) autocast uses bf16 and the GradScaler is disabled: the recipe's fp16 path is
a CUDA one; the code path is otherwise the same.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Cfg:
    def __init__(self, tiny):
        if tiny:
            self.dim, self.layers, self.heads, self.vocab, self.ffn = 64, 2, 4, 128, 176
            self.vit_dim, self.vit_layers, self.vit_heads, self.img, self.patch = 32, 2, 2, 28, 14
            self.bind_hidden, self.embed = 256, 32
            self.lora = 4
        else:  # LLaMA-7B, ImageBind-Huge vision, bind network 608 M (spec §1.1, §2.1, §3.2)
            self.dim, self.layers, self.heads, self.vocab, self.ffn = 4096, 32, 32, 32000, 11008
            self.vit_dim, self.vit_layers, self.vit_heads, self.img, self.patch = 1280, 32, 16, 224, 14
            self.bind_hidden, self.embed = 16384, 1024
            self.lora = 16


class VitBlock(nn.Module):  # pre-LN, nn.MultiheadAttention, GELU MLP (spec §1.2)
    def __init__(self, d, h):
        super().__init__()
        self.norm_1, self.norm_2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, h, bias=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):  # (L, B, D)
        n = self.norm_1(x)
        x = x + self.attn(n, n, n, need_weights=False)[0]
        return x + self.mlp(self.norm_2(x))


class VisionTower(nn.Module):  # patch stem, cls token, trunk, head: (B,3,S,S) -> (B,1024) unit norm
    def __init__(self, c):
        super().__init__()
        self.stem = nn.Conv2d(3, c.vit_dim, c.patch, c.patch, bias=False)
        n = (c.img // c.patch) ** 2 + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, c.vit_dim))
        self.pos = nn.Parameter(torch.randn(1, n, c.vit_dim) * 0.02)
        self.pre = nn.LayerNorm(c.vit_dim, eps=1e-6)
        self.blocks = nn.ModuleList(VitBlock(c.vit_dim, c.vit_heads) for _ in range(c.vit_layers))
        self.head_norm = nn.LayerNorm(c.vit_dim, eps=1e-6)
        self.head = nn.Linear(c.vit_dim, c.embed, bias=False)

    def forward(self, img):
        x = self.stem(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.size(0), -1, -1), x], 1) + self.pos
        x = self.pre(x).transpose(0, 1)
        for b in self.blocks:
            x = b(x)
        e = self.head(self.head_norm(x[0]))
        return F.normalize(e, dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class Proj(nn.Module):  # W x (+ b) (+ B A x): bias and LoRA-16 of the finetune phase (spec §3.4)
    def __init__(self, i, o, bias, lora):
        super().__init__()
        self.w = nn.Linear(i, o, bias=bias)
        self.l1 = nn.Linear(i, lora, bias=False) if lora else None
        self.l2 = nn.Linear(lora, o, bias=False) if lora else None
        if self.l2 is not None:
            nn.init.zeros_(self.l2.weight)

    def forward(self, x):
        y = self.w(x)
        return y + self.l2(self.l1(x)) if self.l1 is not None else y


def rope_freqs(hd, n, device):
    f = 1.0 / (10000 ** (torch.arange(0, hd, 2, device=device).float() / hd))
    return torch.polar(torch.ones(n, hd // 2, device=device), torch.outer(torch.arange(n, device=device).float(), f))


def apply_rope(x, freqs):  # the reference's complex multiply, in fp32
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * freqs[None, :, None, :]).flatten(3).type_as(x)


class Block(nn.Module):
    def __init__(self, c, ft):
        super().__init__()
        d, lo = c.dim, (c.lora if ft else 0)
        self.h, self.hd = c.heads, d // c.heads
        self.wq, self.wk = Proj(d, d, ft, lo), Proj(d, d, False, lo)
        self.wv, self.wo = Proj(d, d, False, lo), Proj(d, d, ft, lo)
        self.w1, self.w2, self.w3 = Proj(d, c.ffn, ft, lo), Proj(c.ffn, d, ft, lo), Proj(d, c.ffn, ft, lo)
        self.gate = nn.Parameter(torch.zeros(1, c.heads, 1, 1))
        self.attention_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.cache = None

    def attend(self, x, freqs, adapter, start):
        B, S, _ = x.shape
        q = self.wq(x).view(B, S, self.h, self.hd)
        k = self.wk(x).view(B, S, self.h, self.hd)
        v = self.wv(x).view(B, S, self.h, self.hd)
        q, k = apply_rope(q, freqs), apply_rope(k, freqs)
        if self.cache is not None:  # decode: the reference's preallocated cache, sliced per step
            self.cache[0][:B, start:start + S] = k
            self.cache[1][:B, start:start + S] = v
            k, v = self.cache[0][:B, :start + S], self.cache[1][:B, :start + S]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        s = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        if S > 1:
            s = s + torch.full((S, S + start), float("-inf"), device=x.device).triu(start + 1)
        o = F.softmax(s.float(), dim=-1).type_as(q) @ v
        va = self.wv.w(adapter).view(B, 1, self.h, self.hd).transpose(1, 2)  # base Wv only
        o = o + torch.tanh(self.gate).type_as(o) * va
        return self.wo(o.transpose(1, 2).reshape(B, S, -1))

    def forward(self, x, freqs, adapter, start=0):
        h = x + self.attend(self.attention_norm(x), freqs, adapter, start)
        n = self.ffn_norm(h)
        return h + self.w2(F.silu(self.w1(n)) * self.w3(n))


class ImageBindLlm(nn.Module):
    def __init__(self, c, ft):
        super().__init__()
        self.c = c
        self.vision = VisionTower(c)
        self.image_bind_proj = nn.Linear(c.embed, c.dim)
        self.bind = nn.ModuleList(
            nn.ModuleList([RMSNorm(c.dim), nn.Linear(c.dim, c.bind_hidden, bias=False),
                           nn.Linear(c.bind_hidden, c.dim, bias=False),
                           nn.Linear(c.dim, c.bind_hidden, bias=False)]) for _ in range(3))
        self.prefix_query = nn.Embedding(c.layers, c.dim)
        self.tok_embeddings = nn.Embedding(c.vocab, c.dim)
        self.layers = nn.ModuleList(Block(c, ft) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim)
        self.output = nn.Linear(c.dim, c.vocab, bias=False)

    def visual(self, img):
        with torch.no_grad():
            e = self.vision(img)
        x = self.image_bind_proj(e.unsqueeze(1))
        for n, f1, f2, f3 in self.bind:
            y = n(x)
            x = x + f2(F.silu(f1(y)) * f3(y))
        return x  # (B,1,D)

    def forward(self, tokens, visual, start=0):
        h = self.tok_embeddings(tokens)
        freqs = rope_freqs(self.c.dim // self.c.heads, start + tokens.size(1), tokens.device)[start:]
        for i, layer in enumerate(self.layers):
            h = layer(h, freqs, visual + self.prefix_query.weight[i].view(1, 1, -1), start)
        return self.output(self.norm(h)).float()


def build(c, ft, device, frozen_dtype):
    m = ImageBindLlm(c, ft)
    for name, p in m.named_parameters():
        if name.startswith("vision."):
            trainable = False
        elif ft:
            trainable = any(k in name for k in ("norm", "bias", "l1.", "l2.")) and not name.startswith(("bind.", "image_bind_"))
        else:
            trainable = name.startswith(("image_bind_", "bind.", "prefix_query")) or name.endswith(".gate")
        p.requires_grad_(trainable)
    m.to(device)
    for name, p in m.named_parameters():  # frozen LLaMA fp16, ImageBind fp32, trainables fp32
        if not p.requires_grad and not name.startswith("vision."):
            p.data = p.data.to(frozen_dtype)
    return m


def peak_gib(device):
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_case(c, ft, batch, seq, device, amp_dtype, warmup, steps):
    m = build(c, ft, device, amp_dtype)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-6, betas=(0.9, 0.95), weight_decay=0.05)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    tokens = torch.randint(3, c.vocab, (batch, seq), device=device)
    labels = tokens.clone()
    labels[:, : seq // 3] = -100
    img = torch.randn(batch, 3, c.img, c.img, device=device)

    def step():
        with torch.autocast(device.type, dtype=amp_dtype):
            logits = m(tokens[:, :-1], m.visual(img))
            loss = F.cross_entropy(logits.reshape(-1, c.vocab), labels[:, 1:].reshape(-1), ignore_index=-100)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    ms = (time.perf_counter() - t0) * 1e3 / steps
    n_train = sum(p.numel() for p in params)
    del m, opt
    return {"step_ms": ms, "samples_per_s": batch * 1e3 / ms, "tokens_per_s": batch * seq * 1e3 / ms,
            "peak_mem_gib": peak_gib(device), "trainable_params": n_train}


@torch.no_grad()
def decode_case(c, device, dtype, prompt_len, new_tokens):
    m = build(c, False, device, dtype).eval()
    for p in m.parameters():
        p.data = p.data.to(dtype)
    hd = c.dim // c.heads
    total = prompt_len + new_tokens
    for layer in m.layers:
        layer.cache = (torch.zeros(1, total, c.heads, hd, device=device, dtype=dtype),
                       torch.zeros(1, total, c.heads, hd, device=device, dtype=dtype))
    img = torch.randn(1, 3, c.img, c.img, device=device, dtype=dtype)
    visual = m.visual(img)
    prompt = torch.randint(3, c.vocab, (1, prompt_len), device=device)

    def run(n):
        nxt = m(prompt, visual, 0)[:, -1].argmax(-1, keepdim=True)
        for i in range(n - 1):
            nxt = m(nxt, visual, prompt_len + i)[:, -1].argmax(-1, keepdim=True)
            nxt.item()  # the reference decides stop per token on the host
        sync(device)

    run(2)
    t0 = time.perf_counter()
    run(1)
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(new_tokens)
    per_token = (time.perf_counter() - t0 - prefill) / max(new_tokens - 1, 1)
    return {"batch": 1, "prompt_len": prompt_len, "new_tokens": new_tokens,
            "ms_per_token": per_token * 1e3, "tokens_per_s": 1.0 / per_token,
            "peak_mem_gib": peak_gib(device)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU friendly), 1 warm-up + 2 steps")
    ap.add_argument("--cases", default="pretrain_4x96,pretrain_16x96,finetune_4x512,decode_b1")
    a = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not a.tiny and device.type != "cuda":
        raise SystemExit("baseline_official.py: the 7B shapes need a CUDA device (use --tiny on the CPU)")
    amp = torch.float16 if device.type == "cuda" else torch.bfloat16
    c = Cfg(a.tiny)
    warmup, steps = (1, 2) if a.tiny else (3, 8)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    for case in a.cases.split(","):
        kind, _, shape = case.partition("_")
        row = {"baseline": "official_eager", "case": case, "device": name, "tiny": a.tiny,
               "precision": f"frozen {str(amp).split('.')[-1]}, autocast, GradScaler={device.type == 'cuda'}"}
        if kind == "decode":
            row.update(decode_case(c, device, amp, 40 if not a.tiny else 8, 128 if not a.tiny else 8))
        else:
            b, t = (int(v) for v in shape.split("x"))
            if a.tiny:
                t = min(t, 32)
            row.update({"batch": b, "seq_len": t})
            row.update(train_case(c, kind == "finetune", b, t, device, amp, warmup, steps))
        print(json.dumps(row), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
