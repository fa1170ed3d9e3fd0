"""Small PyTorch restatement of LLaMA as used by ImageBind-LLM (spec §2.2, §3.3, §3.4, §5.2).

Written from the spec text only, to produce golden fixtures for the C++ port: interleaved
(Meta) RoPE in fp32, RMSNorm statistics in fp32, SwiGLU, per-layer adapter injection with a
tanh(gate) per head (attention-free for one adapter token, gated softmax for several), bias and
LoRA deltas without alpha/r scaling. Module attribute names equal the reference state-dict keys.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Args:
    def __init__(self, **kw):
        self.dim = 32
        self.n_layers = 2
        self.n_heads = 4
        self.n_kv_heads = None
        self.vocab_size = 64
        self.multiple_of = 16
        self.ffn_dim_multiplier = None
        self.norm_eps = 1e-6
        self.rope_theta = 10000.0
        self.max_seq_len = 32
        self.w_bias = False
        self.w_lora = False
        self.lora_rank = 4
        for k, v in kw.items():
            assert hasattr(self, k), k
            setattr(self, k, v)
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads

    def ffn_hidden(self):
        h = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            h = int(self.ffn_dim_multiplier * h)
        return self.multiple_of * ((h + self.multiple_of - 1) // self.multiple_of)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rope_angles(head_dim, n_pos, theta):
    # omega_i = theta^(-2i/head_dim), fp32, angle = p * omega_i
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    pos = torch.arange(n_pos, dtype=torch.float32)
    return torch.outer(pos, inv)  # (n_pos, head_dim/2)


def apply_rope(x, angles):
    # x (B,S,H,hd); angles (S,hd/2). Pair (x[2i], x[2i+1]) rotated as a complex number.
    xf = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = xf[..., 0], xf[..., 1]
    c = torch.cos(angles)[None, :, None, :]
    s = torch.sin(angles)[None, :, None, :]
    out = torch.stack([a * c - b * s, a * s + b * c], dim=-1).flatten(-2)
    return out.type_as(x)


def repeat_kv(x, n_rep):
    # (B,S,Hkv,hd) -> (B,S,Hkv*n_rep,hd); query head h reads kv head h // n_rep
    if n_rep == 1:
        return x
    b, s, h, d = x.shape
    return x[:, :, :, None, :].expand(b, s, h, n_rep, d).reshape(b, s, h * n_rep, d)


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.n_heads = a.n_heads
        self.n_kv = a.n_kv_heads
        self.hd = a.dim // a.n_heads
        self.gate = nn.Parameter(torch.zeros(1, a.n_heads, 1, 1))
        self.wq = nn.Linear(a.dim, a.n_heads * self.hd, bias=a.w_bias)
        self.wk = nn.Linear(a.dim, self.n_kv * self.hd, bias=False)
        self.wv = nn.Linear(a.dim, self.n_kv * self.hd, bias=False)
        self.wo = nn.Linear(a.n_heads * self.hd, a.dim, bias=a.w_bias)
        self.w_lora = a.w_lora
        if a.w_lora:
            r = a.lora_rank
            self.lora_wq_l1 = nn.Linear(a.dim, r, bias=False)
            self.lora_wq_l2 = nn.Linear(r, a.n_heads * self.hd, bias=False)
            self.lora_wk_l1 = nn.Linear(a.dim, r, bias=False)
            self.lora_wk_l2 = nn.Linear(r, self.n_kv * self.hd, bias=False)
            self.lora_wv_l1 = nn.Linear(a.dim, r, bias=False)
            self.lora_wv_l2 = nn.Linear(r, self.n_kv * self.hd, bias=False)
            self.lora_wo_l1 = nn.Linear(a.n_heads * self.hd, r, bias=False)
            self.lora_wo_l2 = nn.Linear(r, a.dim, bias=False)

    def proj(self, name, x):
        y = getattr(self, name)(x)
        if self.w_lora:
            y = y + getattr(self, "lora_" + name + "_l2")(getattr(self, "lora_" + name + "_l1")(x))
        return y

    def forward(self, x, angles, adapter):
        B, S, _ = x.shape
        q = self.proj("wq", x).view(B, S, self.n_heads, self.hd)
        k = self.proj("wk", x).view(B, S, self.n_kv, self.hd)
        v = self.proj("wv", x).view(B, S, self.n_kv, self.hd)
        q = apply_rope(q, angles)
        k = apply_rope(k, angles)
        rep = self.n_heads // self.n_kv
        k = repeat_kv(k, rep).transpose(1, 2)
        v = repeat_kv(v, rep).transpose(1, 2)
        q = q.transpose(1, 2)  # (B,H,S,hd)
        scores = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        causal = torch.full((S, S), float("-inf")).triu(1)
        scores = scores + causal
        probs = F.softmax(scores.float(), dim=-1).type_as(q)
        out = probs @ v  # (B,H,S,hd)
        if adapter is not None:
            L = adapter.shape[1]
            # base Wv / Wk only: the adapter path never sees LoRA
            va = repeat_kv(self.wv(adapter).view(B, L, self.n_kv, self.hd), rep).transpose(1, 2)
            g = torch.tanh(self.gate)
            if L == 1:
                out = out + g * va
            else:
                ka = repeat_kv(self.wk(adapter).view(B, L, self.n_kv, self.hd), rep).transpose(1, 2)
                sa = q @ ka.transpose(2, 3) / math.sqrt(self.hd)
                pa = F.softmax(sa.float(), dim=-1).type_as(q)
                out = out + g * (pa @ va)
        out = out.transpose(1, 2).reshape(B, S, -1)
        return self.proj("wo", out)


class FeedForward(nn.Module):
    def __init__(self, a):
        super().__init__()
        h = a.ffn_hidden()
        self.w1 = nn.Linear(a.dim, h, bias=a.w_bias)
        self.w2 = nn.Linear(h, a.dim, bias=a.w_bias)
        self.w3 = nn.Linear(a.dim, h, bias=a.w_bias)
        self.w_lora = a.w_lora
        if a.w_lora:
            r = a.lora_rank
            self.lora_w1_l1 = nn.Linear(a.dim, r, bias=False)
            self.lora_w1_l2 = nn.Linear(r, h, bias=False)
            self.lora_w2_l1 = nn.Linear(h, r, bias=False)
            self.lora_w2_l2 = nn.Linear(r, a.dim, bias=False)
            self.lora_w3_l1 = nn.Linear(a.dim, r, bias=False)
            self.lora_w3_l2 = nn.Linear(r, h, bias=False)

    def proj(self, name, x):
        y = getattr(self, name)(x)
        if self.w_lora:
            y = y + getattr(self, "lora_" + name + "_l2")(getattr(self, "lora_" + name + "_l1")(x))
        return y

    def forward(self, x):
        return self.proj("w2", F.silu(self.proj("w1", x)) * self.proj("w3", x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention = Attention(a)
        self.feed_forward = FeedForward(a)
        self.attention_norm = RMSNorm(a.dim, a.norm_eps)
        self.ffn_norm = RMSNorm(a.dim, a.norm_eps)

    def forward(self, x, angles, adapter):
        h = x + self.attention(self.attention_norm(x), angles, adapter)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.args = a
        self.tok_embeddings = nn.Embedding(a.vocab_size, a.dim)
        self.layers = nn.ModuleList([Block(a) for _ in range(a.n_layers)])
        self.norm = RMSNorm(a.dim, a.norm_eps)
        self.output = nn.Linear(a.dim, a.vocab_size, bias=False)

    def forward(self, tokens, adapters=None):
        """tokens (B,S); adapters: None or a list (one per layer) of (B,L,D) -> logits (B,S,V) fp32."""
        B, S = tokens.shape
        h = self.tok_embeddings(tokens)
        angles = rope_angles(self.args.dim // self.args.n_heads, S, self.args.rope_theta)
        for i, layer in enumerate(self.layers):
            h = layer(h, angles, None if adapters is None else adapters[i])
        return self.output(self.norm(h)).float()


def lm_loss(logits, labels):
    """Reference loss (spec §3.7 step 6): CE(ignore_index=0) of logits[:, :-1] vs labels[:, 1:]."""
    out = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    lab = labels[:, 1:].flatten()
    if lab.sum() == 0:
        return out.mean() * 0
    return F.cross_entropy(out, lab, ignore_index=0)


def top_p_filter(probs, p):
    """Reference top-p (spec §5.2): drop tokens whose exclusive cumulative mass exceeds p."""
    srt, idx = torch.sort(probs, dim=-1, descending=True)
    cum = torch.cumsum(srt, dim=-1)
    srt = srt.masked_fill(cum - srt > p, 0.0)
    srt = srt / srt.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, idx, srt)


def greedy_generate(model, prompt, adapters1, max_gen_len, eos_id):
    """Per-sample greedy decoding by full recomputation (no cache); adapters1 has batch 1."""
    toks = list(prompt)
    total = min(model.args.max_seq_len, len(prompt) + max_gen_len)
    out = []
    while len(toks) < total:
        logits = model(torch.tensor([toks]), adapters1)[0, -1]
        nxt = int(torch.argmax(logits))
        if nxt == eos_id:
            break
        out.append(nxt)
        toks.append(nxt)
    return out


def hf_permute(w, n_heads):
    """Meta -> HF row order for q/k (spec §2.3): HF_row(h*hd + t*hd/2 + i) = Meta_row(h*hd + 2i + t)."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.view(n_heads, hd // 2, 2, cols).transpose(1, 2).reshape(rows, cols)
