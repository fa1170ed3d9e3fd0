"""Small PyTorch restatement of ImageBind (spec docs/imagebind_llm_spec.md §1) and Point-Bind
(§7.3), written from the spec for golden fixtures. Module names reproduce the official
state-dict keys (§1.8, §7.3); attention uses torch.nn.MultiheadAttention itself, which is the
reference semantics (incl. add_bias_kv). Dimensions are parameters so a tiny preset fits in a
few hundred KB. Run with /usr/bin/python3 (torch 1.13)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------- trunk (§1.2)
class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio, add_bias_kv):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, bias=True, add_bias_kv=add_bias_kv)
        self.norm_1 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = Mlp(d, d * mlp_ratio)
        self.norm_2 = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x, mask):  # x: (L, B, D) sequence-first, as nn.MultiheadAttention wants
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.norm_2(x))


class Trunk(nn.Module):
    def __init__(self, d, blocks, heads, mlp_ratio, add_bias_kv, pre_ln):
        super().__init__()
        if pre_ln:
            self.pre_transformer_layer = nn.Sequential(nn.LayerNorm(d, eps=1e-6))
        else:
            self.pre_transformer_layer = nn.Sequential(nn.Identity())
        self.blocks = nn.Sequential(*[Block(d, heads, mlp_ratio, add_bias_kv) for _ in range(blocks)])

    def forward(self, x, mask=None):  # (B, L, D)
        x = self.pre_transformer_layer(x).transpose(0, 1)
        for b in self.blocks:
            x = b(x, mask)
        return x.transpose(0, 1)


# ----------------------------------------------------------------------------- stems (§1.3)
class Holder(nn.Module):
    pass


class PatchStem(nn.Module):
    def __init__(self, conv, norm_dim=None):
        super().__init__()
        self.proj = conv
        if norm_dim is not None:
            self.norm_layer = nn.LayerNorm(norm_dim)  # eps 1e-5

    def forward(self, x):
        x = self.proj(x)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D), tokens ordered t, h, w
        if hasattr(self, "norm_layer"):
            x = self.norm_layer(x)
        return x


class PadIm2Video(nn.Module):
    def forward(self, x):
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.shape[2] == 1:
            x = x.repeat(1, 1, 2, 1, 1)
        return x


class PosHelper(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, n, d))


class RGBDTPreprocessor(nn.Module):
    def __init__(self, stem_name, stem, num_tokens, d):
        super().__init__()
        setattr(self, stem_name, stem)
        self.stem_name = stem_name
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding_helper = PosHelper(num_tokens + 1, d)

    def forward(self, x):
        t = getattr(self, self.stem_name)(x)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        return t + self.pos_embedding_helper.pos_embed


class ImuPreprocessor(nn.Module):
    def __init__(self, channels, window, n_windows, d):
        super().__init__()
        self.window = window
        self.imu_stem = PatchStem(nn.Linear(channels * window, d, bias=False), d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_windows + 1, d))

    def forward(self, x):  # (B, C, T)
        b, c, t = x.shape
        x = x.unfold(-1, self.window, self.window)  # (B, C, W, 8)
        x = x.permute(0, 2, 1, 3).reshape(b, -1, c * self.window)
        x = self.imu_stem.norm_layer(self.imu_stem.proj(x))
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        return x + self.pos_embed


class TextPreprocessor(nn.Module):
    def __init__(self, vocab, ctx, d):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d)
        self.pos_embed = nn.Parameter(torch.zeros(1, ctx, d))
        m = torch.full((ctx, ctx), float("-inf")).triu_(1)
        self.register_buffer("mask", m)

    def forward(self, ids):
        return self.token_embedding(ids) + self.pos_embed


# ----------------------------------------------------------------------------- heads (§1.5)
class SelectToken(nn.Module):
    def forward(self, x):
        return x[:, 0]


class TextHead(nn.Module):
    def __init__(self, d, out):
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(d, eps=1e-6), nn.Linear(d, out, bias=False))

    def forward(self, x, ids):
        return self.proj(x[torch.arange(x.shape[0]), ids.argmax(dim=-1)])


class Scale(nn.Module):
    def __init__(self, init, learnable):
        super().__init__()
        v = torch.ones([]) * math.log(init)
        if learnable:
            self.log_logit_scale = nn.Parameter(v)
        else:
            self.register_buffer("log_logit_scale", v)

    def forward(self, x):
        return torch.clip(self.log_logit_scale.exp(), max=100) * x


class Normalize(nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=-1, p=2)


def token_head(d, out, dropout_slot):
    layers = [nn.LayerNorm(d, eps=1e-6), SelectToken()]
    if dropout_slot:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.Linear(d, out, bias=False))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- point (§7.3)
def fps(xyz, n):  # (B, N, 3) -> (B, n) indices; start index 0 (deterministic port choice)
    b, N, _ = xyz.shape
    idx = torch.zeros(b, n, dtype=torch.long)
    dist = torch.full((b, N), 1e10, dtype=xyz.dtype)
    far = torch.zeros(b, dtype=torch.long)
    ar = torch.arange(b)
    for i in range(n):
        idx[:, i] = far
        c = xyz[ar, far].unsqueeze(1)
        dist = torch.minimum(dist, ((xyz - c) ** 2).sum(-1))
        far = dist.argmax(-1)
    return idx


def group(xyz, num_group, group_size):
    b = xyz.shape[0]
    ar = torch.arange(b).unsqueeze(1)
    centers = xyz[ar, fps(xyz, num_group)]  # (B, G, 3)
    d = ((centers.unsqueeze(2) - xyz.unsqueeze(1)) ** 2).sum(-1)  # (B, G, N)
    knn = d.topk(group_size, dim=-1, largest=False).indices  # (B, G, K)
    nb = xyz[ar.unsqueeze(-1), knn]  # (B, G, K, 3)
    return nb - centers.unsqueeze(2), centers


class PointNet(nn.Module):
    def __init__(self, c1, c2, c3, out):
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv1d(3, c1, 1), nn.BatchNorm1d(c1), nn.ReLU(inplace=True),
                                        nn.Conv1d(c1, c2, 1))
        self.second_conv = nn.Sequential(nn.Conv1d(2 * c2, c3, 1), nn.BatchNorm1d(c3),
                                         nn.ReLU(inplace=True), nn.Conv1d(c3, out, 1))

    def forward(self, g):  # (B, G, K, 3)
        b, G, k, _ = g.shape
        x = self.first_conv(g.reshape(b * G, k, 3).transpose(2, 1))  # (BG, c2, K)
        glob = x.max(dim=2, keepdim=True)[0]
        x = torch.cat([glob.expand(-1, -1, k), x], dim=1)
        x = self.second_conv(x)
        return x.max(dim=2)[0].reshape(b, G, -1)


class PBAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        a = a.softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class PBBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = PBAttention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = Mlp(d, 4 * d)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PointEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["trans_dim"]
        self.cfg = cfg
        self.encoder = PointNet(cfg["c1"], cfg["c2"], cfg["c3"], cfg["encoder_dims"])
        self.reduce_dim = nn.Linear(cfg["encoder_dims"], d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.cls_pos = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Sequential(nn.Linear(3, cfg["pos_hidden"]), nn.GELU(),
                                       nn.Linear(cfg["pos_hidden"], d))
        self.blocks = Holder()
        self.blocks.blocks = nn.ModuleList([PBBlock(d, cfg["heads"]) for _ in range(cfg["depth"])])
        self.norm = nn.LayerNorm(d)

    def forward(self, pts, trace=None):
        nb, centers = group(pts, self.cfg["num_group"], self.cfg["group_size"])
        tok = self.reduce_dim(self.encoder(nb))
        if trace is not None:
            trace["centers"], trace["group_tokens"] = centers, tok
        b = tok.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), tok], 1)
        pos = torch.cat([self.cls_pos.expand(b, -1, -1), self.pos_embed(centers)], 1)
        for blk in self.blocks.blocks:
            x = blk(x + pos)
        x = self.norm(x)
        return torch.cat([x[:, 0], x[:, 1:].max(1)[0]], dim=-1)


class PointTrunk(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.point_encoder = PointEncoder(cfg)
        self.pc_projection = nn.Parameter(torch.zeros(2 * cfg["trans_dim"], cfg["proj_dim"]))

    def forward(self, pts, trace=None):
        return self.point_encoder(pts, trace) @ self.pc_projection


# ----------------------------------------------------------------------------- model (§1.1)
class ImageBind(nn.Module):
    """cfg: dict modality -> dict of dims (see make_tiny_config in imagebind_make_fixtures.py)."""

    def __init__(self, cfg, out_dim):
        super().__init__()
        self.cfg = cfg
        pre, trunks, heads, post = {}, {}, {}, {}
        for m, c in cfg.items():
            if m == "point":
                continue
            d = c["dim"]
            if m == "vision":
                kt, kh, kw = c["kernel"]
                proj = nn.Sequential(PadIm2Video(), nn.Conv3d(3, d, (kt, kh, kw), (kt, kh, kw), bias=False))
                n = (c["size"][0] // kh) * (c["size"][1] // kw)
                pre[m] = RGBDTPreprocessor("rgbt_stem", PatchStem(proj), n, d)
            elif m in ("audio", "depth", "thermal"):
                k, s = c["kernel"], c["stride"]
                conv = nn.Conv2d(1, d, k, s, bias=False)
                n = ((c["size"][0] - k) // s + 1) * ((c["size"][1] - k) // s + 1)
                pre[m] = RGBDTPreprocessor("depth_stem" if m == "depth" else "rgbt_stem",
                                           PatchStem(conv, d), n, d)
            elif m == "imu":
                pre[m] = ImuPreprocessor(c["channels"], c["window"], c["length"] // c["window"], d)
            elif m == "text":
                pre[m] = TextPreprocessor(c["vocab"], c["ctx"], d)
            trunks[m] = Trunk(d, c["blocks"], c["heads"], 4, c["bias_kv"], m == "vision")
            if m == "text":
                heads[m] = TextHead(d, out_dim)
                post[m] = nn.Sequential(Normalize(), Scale(c["scale"], True))
            else:
                heads[m] = token_head(d, out_dim, m == "imu")
                post[m] = nn.Sequential(Normalize()) if m == "vision" else \
                    nn.Sequential(Normalize(), Scale(c["scale"], False))
        if "point" in cfg:
            c = cfg["point"]
            self.point_trunk = PointTrunk(c)
            heads["point"] = nn.Sequential(nn.LayerNorm(c["proj_dim"], eps=1e-6), nn.Dropout(0.5),
                                           nn.Linear(c["proj_dim"], out_dim, bias=False))
            post["point"] = nn.Sequential(Normalize(), Scale(1.0, False))
        self.modality_preprocessors = nn.ModuleDict(pre)
        self.modality_trunks = nn.ModuleDict(trunks)
        self.modality_heads = nn.ModuleDict(heads)
        self.modality_postprocessors = nn.ModuleDict(post)

    def encode(self, m, x, trace=None):
        """Returns post-processed embeddings; multi-clip (ndim >= 5) averaged over clips."""
        multi = x.ndim >= 5
        if multi:
            b, s = x.shape[:2]
            x = x.reshape(b * s, *x.shape[2:])
        if m == "point":
            f = self.modality_heads[m](self.point_trunk(x, trace))
        else:
            tok = self.modality_preprocessors[m](x)
            mask = self.modality_preprocessors[m].mask if m == "text" else None
            out = self.modality_trunks[m](tok, mask)
            if trace is not None:
                trace["tokens"], trace["trunk"] = tok, out
            f = self.modality_heads[m](out, x) if m == "text" else self.modality_heads[m](out)
        if trace is not None:
            trace["head"] = f
        f = self.modality_postprocessors[m](f)
        if multi:
            f = f.reshape(b, s, -1).mean(dim=1)
        return f
