"""Writes tests/golden/fixtures/imagebind/imagebind_huge_keys.txt: every key and shape of the
official imagebind_w3D.pth (ImageBind-Huge + Point-Bind), enumerated from the tables of spec
§1.1, §1.3, §1.5, §1.8 and §7.3 alone (no model code), so the C++ model's key list is checked
against the spec independently of our reference restatement. Expected totals (§1.8): 1476 entries,
1,223,565,617 values; 1311 / 1,200,786,990 without the point branch. Run with /usr/bin/python3."""
import os

OUT = 1024
# modality: (D, blocks, add_bias_kv)    §1.1 table
TRUNKS = {"vision": (1280, 32, False), "text": (1024, 24, False), "audio": (768, 12, True),
          "depth": (384, 12, True), "thermal": (768, 12, True), "imu": (512, 6, True)}


def keys():
    k = []
    add = lambda name, *shape: k.append((name, tuple(shape)))  # noqa: E731
    p = "modality_preprocessors."
    add(p + "vision.cls_token", 1, 1, 1280)
    add(p + "vision.rgbt_stem.proj.1.weight", 1280, 3, 2, 14, 14)
    add(p + "vision.pos_embedding_helper.pos_embed", 1, 257, 1280)
    add(p + "text.token_embedding.weight", 49408, 1024)
    add(p + "text.pos_embed", 1, 77, 1024)
    add(p + "text.mask", 77, 77)
    for m, stem, d, n in (("audio", "rgbt_stem", 768, 229), ("depth", "depth_stem", 384, 197),
                          ("thermal", "rgbt_stem", 768, 197)):
        add(p + m + ".cls_token", 1, 1, d)
        add(p + m + "." + stem + ".proj.weight", d, 1, 16, 16)
        add(p + m + "." + stem + ".norm_layer.weight", d)
        add(p + m + "." + stem + ".norm_layer.bias", d)
        add(p + m + ".pos_embedding_helper.pos_embed", 1, n, d)
    add(p + "imu.cls_token", 1, 1, 512)
    add(p + "imu.pos_embed", 1, 251, 512)
    add(p + "imu.imu_stem.proj.weight", 512, 48)
    add(p + "imu.imu_stem.norm_layer.weight", 512)
    add(p + "imu.imu_stem.norm_layer.bias", 512)
    for m, (d, nb, bias_kv) in TRUNKS.items():
        t = "modality_trunks." + m + "."
        if m == "vision":
            add(t + "pre_transformer_layer.0.weight", d)
            add(t + "pre_transformer_layer.0.bias", d)
        for i in range(nb):
            b = t + "blocks.%d." % i
            add(b + "attn.in_proj_weight", 3 * d, d)
            add(b + "attn.in_proj_bias", 3 * d)
            if bias_kv:
                add(b + "attn.bias_k", 1, 1, d)
                add(b + "attn.bias_v", 1, 1, d)
            add(b + "attn.out_proj.weight", d, d)
            add(b + "attn.out_proj.bias", d)
            add(b + "norm_1.weight", d)
            add(b + "norm_1.bias", d)
            add(b + "mlp.fc1.weight", 4 * d, d)
            add(b + "mlp.fc1.bias", 4 * d)
            add(b + "mlp.fc2.weight", d, 4 * d)
            add(b + "mlp.fc2.bias", d)
            add(b + "norm_2.weight", d)
            add(b + "norm_2.bias", d)
    h = "modality_heads."
    for m, (d, _, _) in TRUNKS.items():
        if m == "text":
            add(h + "text.proj.0.weight", d)
            add(h + "text.proj.0.bias", d)
            add(h + "text.proj.1.weight", OUT, d)
        else:
            add(h + m + ".0.weight", d)
            add(h + m + ".0.bias", d)
            add(h + m + (".3.weight" if m == "imu" else ".2.weight"), OUT, d)
    for m in ("text", "audio", "depth", "thermal", "imu"):
        add("modality_postprocessors." + m + ".1.log_logit_scale")
    base = len(k)
    # Point-Bind (§7.3)
    add(h + "point.0.weight", 512)
    add(h + "point.0.bias", 512)
    add(h + "point.2.weight", OUT, 512)
    add("modality_postprocessors.point.1.log_logit_scale")
    e = "point_trunk.point_encoder."
    add(e + "cls_token", 1, 1, 384)
    add(e + "cls_pos", 1, 1, 384)
    for conv, cin, mid, out in (("first_conv", 3, 128, 256), ("second_conv", 512, 512, 256)):
        c = e + "encoder." + conv + "."
        add(c + "0.weight", mid, cin, 1)
        add(c + "0.bias", mid)
        for s in ("weight", "bias", "running_mean", "running_var"):
            add(c + "1." + s, mid)
        add(c + "1.num_batches_tracked")
        add(c + "3.weight", out, mid, 1)
        add(c + "3.bias", out)
    add(e + "reduce_dim.weight", 384, 256)
    add(e + "reduce_dim.bias", 384)
    add(e + "pos_embed.0.weight", 128, 3)
    add(e + "pos_embed.0.bias", 128)
    add(e + "pos_embed.2.weight", 384, 128)
    add(e + "pos_embed.2.bias", 384)
    for i in range(12):
        b = e + "blocks.blocks.%d." % i
        add(b + "norm1.weight", 384)
        add(b + "norm1.bias", 384)
        add(b + "attn.qkv.weight", 1152, 384)
        add(b + "attn.proj.weight", 384, 384)
        add(b + "attn.proj.bias", 384)
        add(b + "norm2.weight", 384)
        add(b + "norm2.bias", 384)
        add(b + "mlp.fc1.weight", 1536, 384)
        add(b + "mlp.fc1.bias", 1536)
        add(b + "mlp.fc2.weight", 384, 1536)
        add(b + "mlp.fc2.bias", 384)
    add(e + "norm.weight", 384)
    add(e + "norm.bias", 384)
    add("point_trunk.pc_projection", 768, 512)
    return k, base


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def main():
    k, base = keys()
    total = sum(numel(s) for _, s in k)
    base_total = sum(numel(s) for _, s in k[:base])
    assert (len(k), total) == (1476, 1223565617), (len(k), total)
    assert (base, base_total) == (1311, 1200786990), (base, base_total)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "imagebind",
                        "imagebind_huge_keys.txt")
    with open(path, "w") as f:
        f.write("# key shape: imagebind_w3D.pth (ImageBind-Huge + Point-Bind), from spec tables "
                "(imagebind_huge_keys.py); %d entries, %d values\n" % (len(k), total))
        for name, s in k:
            f.write("%s %s\n" % (name, ",".join(str(x) for x in s)))
    print(path, len(k), total)


if __name__ == "__main__":
    main()
