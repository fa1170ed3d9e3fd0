#!/usr/bin/env bash
# Rebuilds data/samples/tiny_tokenizer.model: a 320-piece BPE SentencePiece model (byte fallback,
# identity normaliser, LLaMA's special ids 0/1/2, no pad) trained on the bundled demo texts and the
# Alpaca templates, so the tiny default runs without the real LLaMA tokenizer. Needs Debian's
# `sentencepiece` package (spm_train) and /usr/bin/python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d)
/usr/bin/python3 - "$tmp/corpus.txt" <<'PY'
import json, sys
lines = []
t1 = ("Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\n{}\n\n### Response:")
t2 = ("Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n\n### Instruction:\n{}"
      "\n\n### Input:\n{}\n\n### Response:")
for row in open("captions.tsv").read().splitlines()[1:]:
    lines.append(row.split("\t", 1)[1])
for r in json.load(open("instructions.json")):
    lines += [c["value"] for c in r["conversations"]]
for r in json.load(open("alpaca.json")):
    lines += [r["instruction"], r["input"], r["output"]]
lines += (t1 + t2).split("\n") + ["Generate caption of this image"]
open(sys.argv[1], "w").write("\n".join(l for l in lines if l.strip()) + "\n")
PY
spm_train --input="$tmp/corpus.txt" --model_prefix="$tmp/tiny_tokenizer" --vocab_size=320 \
  --model_type=bpe --character_coverage=1.0 --byte_fallback=true --num_threads=1 \
  --bos_id=1 --eos_id=2 --unk_id=0 --pad_id=-1 --normalization_rule_name=identity \
  --remove_extra_whitespaces=false > "$tmp/train.log" 2>&1
cp "$tmp/tiny_tokenizer.model" tiny_tokenizer.model
rm -rf "$tmp"
echo "wrote $(pwd)/tiny_tokenizer.model"
