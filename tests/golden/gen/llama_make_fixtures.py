"""Writes the LLaMA golden fixtures (tests/golden/fixtures/llama/) from llama_reference.py.

Run from the repository root with Debian's python (torch 1.13):
    /usr/bin/python3 tests/golden/gen/llama_make_fixtures.py
Fixed seeds, tiny configs, fp32. Every tensor the C++ tests compare against comes from here.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "llama")
META = {"generator": "tests/golden/gen/llama_make_fixtures.py"}


def seeded_init(model, seed):
    """Deterministic non-trivial values for every parameter (base, norms, biases, LoRA, gates)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=g)
            if name.endswith("gate"):
                p.copy_(0.8 * n)
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * n)
            elif name.endswith("bias"):
                p.copy_(0.1 * n)
            elif "lora" in name and name.endswith("_l2.weight"):
                p.copy_(0.3 * n / p.shape[1] ** 0.5)
            elif name == "tok_embeddings.weight":
                p.copy_(n)
            else:
                p.copy_(n / p.shape[1] ** 0.5)


def adapters_from(visual, prefix):
    """a_l = visual + prefix_l (spec §3.3), one (B,L,D) tensor per layer."""
    return [visual + prefix[i].view(1, 1, -1) for i in range(prefix.shape[0])]


def base_only(state):
    return {k: v for k, v in state.items() if "lora" not in k and not k.endswith(".bias")}


def tiny_case():
    a_full = ref.Args(w_bias=True, w_lora=True, n_kv_heads=2)
    a_plain = ref.Args(n_kv_heads=2)
    full = ref.Transformer(a_full)
    seeded_init(full, 1234)
    state = {k: v.detach().clone() for k, v in full.state_dict().items()}
    plain = ref.Transformer(a_plain)
    plain.load_state_dict(base_only(state))

    g = torch.Generator().manual_seed(99)
    B, S, D, V = 2, 9, a_full.dim, a_full.vocab_size
    tokens = torch.randint(3, V, (B, S), generator=g)
    tokens[:, 0] = 1
    labels = tokens.clone()
    labels[0, :4] = 0  # prompt part masked (spec §3.7 step 4-5)
    labels[1, :2] = 0
    labels[1, -2:] = 0  # padding
    visual = 0.5 * torch.randn(B, 1, D, generator=g)
    prefix = 0.5 * torch.randn(a_full.n_layers, D, generator=g)
    multi = 0.5 * torch.randn(a_full.n_layers, B, 3, D, generator=g)

    cases = {"tokens": tokens, "labels": labels, "visual": visual, "prefix": prefix,
             "adapter_multi": multi}
    with torch.no_grad():
        cases["logits_plain"] = plain(tokens)
        cases["logits_multi"] = full(tokens, [multi[i] for i in range(a_full.n_layers)])
        cases["logits_full_no_adapter"] = full(tokens)

    visual_r = visual.clone().requires_grad_(True)
    prefix_r = prefix.clone().requires_grad_(True)
    logits = full(tokens, adapters_from(visual_r, prefix_r))
    loss = ref.lm_loss(logits, labels)
    loss.backward()
    cases["logits_full"] = logits.detach()
    cases["loss_full"] = loss.detach().reshape(1)
    cases["grad.visual"] = visual_r.grad
    cases["grad.prefix"] = prefix_r.grad
    for name, p in full.named_parameters():
        if any(s in name for s in ("gate", "bias", "lora", "norm")):
            cases["grad." + name] = p.grad.clone()

    # greedy generation by full recomputation, per sample, adapter len 1
    prompts = [[1, 50, 51, 52, 9, 10], [1, 7, 3, 22, 40, 11, 8]]
    with torch.no_grad():
        raw = [ref.greedy_generate(full, p, adapters_from(visual[i:i + 1], prefix), 10, -1)
               for i, p in enumerate(prompts)]
        # an id that sample 0 produces first at step >= 3: exercises the per-sequence stop at EOS
        eos = next(t for j, t in enumerate(raw[0]) if j >= 3 and t not in raw[0][:j])
        gen = [ref.greedy_generate(full, p, adapters_from(visual[i:i + 1], prefix), 10, eos)
               for i, p in enumerate(prompts)]
    for i, (p, o) in enumerate(zip(prompts, gen)):
        cases[f"gen.prompt{i}"] = torch.tensor(p, dtype=torch.int64)
        cases[f"gen.out{i}"] = torch.tensor(o, dtype=torch.int64)
    cases["gen.eos"] = torch.tensor([eos], dtype=torch.int64)
    cases["gen.max_gen_len"] = torch.tensor([10], dtype=torch.int64)

    probs = torch.softmax(torch.randn(3, 12, generator=g) * 2.0, dim=-1)
    cases["top_p.probs"] = probs
    cases["top_p.filtered_075"] = ref.top_p_filter(probs, 0.75)
    cases["top_p.filtered_030"] = ref.top_p_filter(probs, 0.30)

    # Hugging Face layout of the plain model's weights: renamed, q/k rows permuted (spec §2.3)
    hf = {"model.embed_tokens.weight": state["tok_embeddings.weight"],
          "model.norm.weight": state["norm.weight"], "lm_head.weight": state["output.weight"]}
    for i in range(a_full.n_layers):
        p, q = f"layers.{i}.", f"model.layers.{i}."
        hf[q + "self_attn.q_proj.weight"] = ref.hf_permute(state[p + "attention.wq.weight"], a_full.n_heads)
        hf[q + "self_attn.k_proj.weight"] = ref.hf_permute(state[p + "attention.wk.weight"], a_full.n_kv_heads)
        hf[q + "self_attn.v_proj.weight"] = state[p + "attention.wv.weight"]
        hf[q + "self_attn.o_proj.weight"] = state[p + "attention.wo.weight"]
        hf[q + "mlp.gate_proj.weight"] = state[p + "feed_forward.w1.weight"]
        hf[q + "mlp.down_proj.weight"] = state[p + "feed_forward.w2.weight"]
        hf[q + "mlp.up_proj.weight"] = state[p + "feed_forward.w3.weight"]
        hf[q + "input_layernorm.weight"] = state[p + "attention_norm.weight"]
        hf[q + "post_attention_layernorm.weight"] = state[p + "ffn_norm.weight"]
        hf[q + "self_attn.rotary_emb.inv_freq"] = torch.zeros(a_full.dim // a_full.n_heads // 2)

    safetensors_io.save(state, os.path.join(OUT, "tiny_weights.safetensors"), META)
    safetensors_io.save(cases, os.path.join(OUT, "tiny_cases.safetensors"), META)
    safetensors_io.save(hf, os.path.join(OUT, "tiny_hf_weights.safetensors"), META)

    with open(os.path.join(OUT, "tiny_bias_lora_keys.txt"), "w") as f:
        f.write("# state-dict keys of the tiny LLaMA with w_bias and w_lora (rank 4), sorted; name shape\n")
        for k in sorted(state):
            f.write(k + " " + "x".join(str(s) for s in state[k].shape) + "\n")

    with open(os.path.join(OUT, "tiny_params.json"), "w") as f:
        json.dump({"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "multiple_of": 16,
                   "norm_eps": 1e-06, "vocab_size": 64, "rope_theta": 10000.0}, f, indent=1)
    with open(os.path.join(OUT, "tiny_config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
                   "intermediate_size": a_full.ffn_hidden(), "num_attention_heads": 4,
                   "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
                   "rope_theta": 10000.0, "vocab_size": 64, "max_position_embeddings": 32,
                   "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
                   "tie_word_embeddings": False}, f, indent=1)
    return loss.item(), gen


def mha_case():
    """Second config: n_kv_heads = n_heads (7B structure), ffn_dim_multiplier, large rope_theta."""
    a = ref.Args(n_layers=1, vocab_size=48, ffn_dim_multiplier=1.3, rope_theta=500000.0,
                 norm_eps=1e-5, w_bias=True, w_lora=True, lora_rank=2)
    m = ref.Transformer(a)
    seeded_init(m, 4321)
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, a.vocab_size, (3, 6), generator=g)
    visual = 0.5 * torch.randn(3, 1, a.dim, generator=g)
    prefix = 0.5 * torch.randn(1, a.dim, generator=g)
    multi = 0.5 * torch.randn(1, 3, 2, a.dim, generator=g)
    out = {"tokens": tokens, "visual": visual, "prefix": prefix, "adapter_multi": multi}
    with torch.no_grad():
        out["logits_full"] = m(tokens, adapters_from(visual, prefix))
        out["logits_multi"] = m(tokens, [multi[0]])
    out.update({"w." + k: v for k, v in state.items()})
    safetensors_io.save(out, os.path.join(OUT, "mha_case.safetensors"), META)
    return a.ffn_hidden()


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    loss, gen = tiny_case()
    hidden = mha_case()
    print("tiny loss", loss, "generated", gen, "mha ffn hidden", hidden)
