#!/usr/bin/python3
"""Expected token ids and loss labels for the data pipeline's sample construction (spec §3.7),
produced independently of the C++ code with Debian's `spm_encode` and the real LLaMA tokenizer.

spm_encode reads one sentence per line, but the Alpaca templates contain newlines. The LLaMA
vocabulary has no piece containing "\n" (checked below), so a newline is always the byte-fallback
piece <0x0A> and BPE never merges across it: the encoding of a text is the encoding of its first
line (with SentencePiece's dummy "▁" prefix), then for every further line <0x0A> followed by that
line encoded *without* the dummy prefix. The no-prefix encoder is the same model with
normalizer_spec.add_dummy_prefix flipped to false (one byte in the protobuf).

Run: /usr/bin/python3 tests/golden/gen/data_template_ids.py  (writes tests/golden/fixtures/data/template_ids.json)
"""
import json
import os
import subprocess
import tempfile

MODEL = os.environ.get("LLAMA_TOKENIZER", "/work/shared/assets/llama_tokenizer.model")
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "data", "template_ids.json")
BOS, EOS, NEWLINE, SPACE_PIECE = 1, 2, 13, 29871


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def no_prefix_model(path, out):
    """Copy of the model with NormalizerSpec.add_dummy_prefix (field 3 of field 3) set to 0."""
    b = bytearray(open(path, "rb").read())
    i = 0
    while i < len(b):
        key, j = varint(b, i)
        field, wire = key >> 3, key & 7
        assert wire == 2, "ModelProto top-level fields are all length-delimited"
        n, j = varint(b, j)
        if field == 3:  # normalizer_spec
            k = j
            while k < j + n:
                key2, k2 = varint(b, k)
                if key2 == (3 << 3):  # add_dummy_prefix, varint
                    assert b[k2] == 1
                    b[k2] = 0
                    open(out, "wb").write(bytes(b))
                    return
                w2 = key2 & 7
                if w2 == 0:
                    _, k = varint(b, k2)
                elif w2 == 2:
                    m, k3 = varint(b, k2)
                    k = k3 + m
                else:
                    raise RuntimeError("unexpected wire type")
        i = j + n
    raise RuntimeError("add_dummy_prefix not found")


def spm(model, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        name = f.name
    out = subprocess.run(["spm_encode", "--model=" + model, "--output_format=id", "--input=" + name],
                         check=True, capture_output=True, text=True).stdout
    os.unlink(name)
    res = [[int(x) for x in l.split()] for l in out.split("\n")[: len(lines)]]
    assert len(res) == len(lines)
    return res


class Encoder:
    def __init__(self):
        self.tmp = tempfile.mkdtemp()
        self.np_model = os.path.join(self.tmp, "no_prefix.model")
        no_prefix_model(MODEL, self.np_model)
        vocab = subprocess.run(["spm_export_vocab", "--model=" + MODEL], check=True,
                               capture_output=True).stdout.decode("utf-8")
        pieces = [l.split("\t")[0] for l in vocab.split("\n") if l]
        assert pieces[NEWLINE] == "<0x0A>" and pieces[SPACE_PIECE] == "\u2581"
        assert not any("\n" in p for p in pieces)

    def encode(self, text):
        """sp.encode(text) without BOS/EOS."""
        lines = text.split("\n")
        first = spm(MODEL, [lines[0]])[0] if lines[0] else [SPACE_PIECE]  # dummy prefix alone
        rest = spm(self.np_model, lines[1:]) if len(lines) > 1 else []
        ids = list(first)
        for r in rest:
            ids += [NEWLINE] + r
        return ids


def format_prompt(instruction, inp=""):
    if inp:
        return ("Below is an instruction that describes a task, paired with an input that provides "
                "further context. Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n" + instruction + "\n\n### Input:\n" + inp + "\n\n### Response:")
    return ("Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\n" + instruction + "\n\n### Response:")


def followup_prompt(instruction, inp=""):
    if inp:
        return "\n\n### Instruction:\n" + instruction + "\n\n### Input:\n" + inp + "\n\n### Response:"
    return "\n\n### Instruction:\n" + instruction + "\n\n### Response:"


def reference_sample(enc, instruction, inp, answer, max_words):
    """Spec §3.7 steps 1-5, as the official FinetuneDataset/PretrainDataset do it."""
    prompt = format_prompt(instruction, inp)
    p = [BOS] + enc.encode(prompt)
    f = [BOS] + enc.encode(prompt + answer) + [EOS]
    full_len = len(f)
    f = (f + [-1] * max_words)[:max_words]
    labels = list(f)
    for i in range(min(len(p), max_words)):
        labels[i] = -1
    f = [0 if x == -1 else x for x in f]
    labels = [0 if x == -1 else x for x in labels]
    return f, labels, full_len > max_words, p == f[: len(p)]


def exact_sample(enc, turns, max_words, ignore=-100):
    tokens, labels = [BOS], [ignore]
    for k, (instruction, inp, answer) in enumerate(turns):
        prompt = format_prompt(instruction, inp) if k == 0 else followup_prompt(instruction, inp)
        pi = enc.encode(prompt)
        ai = enc.encode(answer) + [EOS]
        tokens += pi + ai
        labels += [ignore] * len(pi) + ai
    truncated = len(tokens) > max_words
    tokens = (tokens + [0] * max_words)[:max_words]
    labels = (labels + [ignore] * max_words)[:max_words]
    return tokens, labels, truncated


CASES = [
    ("caption", [("Generate caption of this image", "", "A dog running on the beach.")], 96),
    ("alpaca_input", [("Translate the sentence to French.", "Good morning, my friend.", "Bonjour, mon ami.")], 96),
    ("llava_first_turn", [("<image>\nWhat is in the picture?", "", "A red car parked on a quiet street.")], 96),
    ("truncated_answer", [("Describe the scene in detail.", "", "The sun sets over the mountains, painting the sky in orange and purple while birds fly home.")], 48),
    ("prompt_longer_than_max", [("Summarise the following text please.", "", "Short.")], 20),
    ("boundary_merge", [("Give an emoticon.", "", ":)")], 96),
    ("unicode", [("Say hello in Chinese.", "", "你好，世界！")], 96),
    ("multi_turn", [("<image>\nWhat colour is the car?", "", "It is red."),
                    ("Is it moving?", "", "No, it is parked.")], 96),
]


def main():
    enc = Encoder()
    cases = []
    for name, turns, max_words in CASES:
        case = {"name": name, "max_words": max_words,
                "turns": [{"instruction": i, "input": x, "answer": a} for i, x, a in turns]}
        if len(turns) == 1:
            i, x, a = turns[0]
            t, l, tr, aligned = reference_sample(enc, i, x, a, max_words)
            case["reference"] = {"tokens": t, "labels": l, "truncated": tr, "prefix_aligned": aligned}
        t, l, tr = exact_sample(enc, turns, max_words)
        case["exact"] = {"tokens": t, "labels": l, "truncated": tr, "ignore_index": -100}
        cases.append(case)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"tokenizer_md5": "eeec4125e9c7560836b4873b6f8e3025", "cases": cases}, f,
                  ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(c["name"], "aligned" if c.get("reference", {}).get("prefix_aligned", True) else "MASK SHIFTED")


if __name__ == "__main__":
    main()
