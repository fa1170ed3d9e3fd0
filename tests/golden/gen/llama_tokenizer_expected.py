"""Expected LLaMA SentencePiece ids for tests/unit/tokenizer_test.cpp, from Debian's command-line
tools (`spm_encode --output_format=id`, `spm_decode --input_format=id`), i.e. independently of our
C++ wrapper. Run: /usr/bin/python3 tests/golden/gen/llama_tokenizer_expected.py [model]

spm_encode reads one line per input, so a text with newlines is assembled from its lines: the
LLaMA model has no piece containing "\n" (it is the byte piece <0x0A> = 13), hence no piece spans a
newline and the encoding of "A\nB" is enc("A") + [13] + enc_without_dummy_prefix("B"). The latter
is obtained by encoding "\x01B" (\x01 is also a lone byte piece) and dropping the leading "▁" and
<0x01> ids. Empty segments encode to nothing, except that the dummy prefix "▁" (29871) is still
emitted once at the start of a non-empty text that begins with a newline.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("IBLLM_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "..", "shared"))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SHARED, "assets", "llama_tokenizer.model")
OUT = os.path.join(HERE, "..", "fixtures", "llama", "tokenizer_expected.json")

NEWLINE_ID = 13  # <0x0A>
BARRIER = "\x01"


def spm_lines(lines):
    res = subprocess.run(["spm_encode", "--model=" + MODEL, "--output_format=id"],
                         input="".join(l + "\n" for l in lines).encode("utf-8"),
                         stdout=subprocess.PIPE, check=True)
    out = res.stdout.decode("utf-8").split("\n")[: len(lines)]
    return [[int(t) for t in o.split()] for o in out]


def encode(text):
    segs = text.split("\n")
    if not text:
        return []
    # the dummy prefix "▁" is added once, at the very start, even before a leading newline
    ids = spm_lines([segs[0]])[0] if segs[0] else [29871]
    for seg in segs[1:]:
        ids.append(NEWLINE_ID)
        if seg:
            raw = spm_lines([BARRIER + seg])[0]
            assert raw[:2] == [29871, 4], raw  # "▁", <0x01>
            ids.extend(raw[2:])
    return ids


def decode(ids):
    res = subprocess.run(["spm_decode", "--model=" + MODEL, "--input_format=id"],
                         input=(" ".join(str(i) for i in ids) + "\n").encode("utf-8"),
                         stdout=subprocess.PIPE, check=True)
    return res.stdout.decode("utf-8")[:-1]


NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:")
WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides "
              "further context. Write a response that appropriately completes the request.\n\n"
              "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")

TEXTS = [
    "Hello world",
    "",
    " leading space",
    "trailing space ",
    "  two  spaces  inside",
    "tab\tseparated",
    "The year 2023 had 365 days.",
    "naïve café 日本語 🙂",
    "Ünïcödé — “quotes” ½",
    "line one\nline two",
    "\n",
    NO_INPUT.format(instruction="Generate caption of this image"),
    NO_INPUT.format(instruction="Generate caption of this image") + "A red car parked on a street.",
    WITH_INPUT.format(instruction="Translate the input to French.", input="Good morning!"),
    WITH_INPUT.format(instruction="Summarize.", input="Line A\nLine B") + "Two lines.",
]

if __name__ == "__main__":
    cases = [{"text": t, "ids": encode(t)} for t in TEXTS]
    decodes = [{"ids": c["ids"], "text": decode(c["ids"])} for c in cases if "\n" not in c["text"]]
    decodes.append({"ids": [1, 15043, 3186, 2], "text": decode([1, 15043, 3186, 2])})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"model_md5": "eeec4125e9c7560836b4873b6f8e3025", "vocab_size": 32000,
                   "encode": cases, "decode": decodes}, f, ensure_ascii=False, indent=1)
    print("wrote", OUT, len(cases), "encode cases", len(decodes), "decode cases")
