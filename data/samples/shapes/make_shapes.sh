#!/usr/bin/env bash
# Regenerates the bundled shapes dataset in this folder (images/, caption TSVs, LLaVA and Alpaca
# JSON; see make_shapes.py) and its tokenizer.model: a 640-piece BPE SentencePiece model with
# the flags of ../make_tiny_tokenizer.sh (byte fallback, identity normaliser, LLaMA's ids unk 0 /
# bos 1 / eos 2 / no pad), trained on every caption, question and answer plus the Alpaca prompt
# templates, one thread and a fixed seed so reruns give identical bytes. The template lines are
# weighted x200 (every sample carries one) so each template word is one piece; 640 = 259 reserved
# ids (3 specials + 256 byte pieces) + 381 merges is the size at which every template and dataset
# word is a single piece (at 512 the template words split into letters). Needs /usr/bin/python3
# with numpy and Debian's `sentencepiece` package (spm_train).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VOCAB_SIZE=640
rm -rf images
/usr/bin/python3 make_shapes.py --out .
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/corpus.txt" <<'PY'
import json, sys
lines = []
t1 = ("Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.\n\n### Instruction:\n{}\n\n### Response:")
t2 = ("Below is an instruction that describes a task, paired with an input that provides further "
      "context. Write a response that appropriately completes the request.\n\n### Instruction:\n{}"
      "\n\n### Input:\n{}\n\n### Response:")
for split in ("train", "val"):
    for row in open(f"captions_{split}.tsv", encoding="utf-8").read().splitlines()[1:]:
        lines.append(row.split("\t", 1)[1])
    for r in json.load(open(f"instructions_{split}.json", encoding="utf-8")):
        for c in r["conversations"]:
            lines += c["value"].split("\n")
    for r in json.load(open(f"alpaca_{split}.json", encoding="utf-8")):
        lines += [r["instruction"], r["input"], r["output"]]
# Every sample carries a template: weight its lines like that, so its words become whole pieces.
lines += ((t1 + t2).split("\n") + ["Generate caption of this image"]) * 200
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(l for l in lines if l.strip()) + "\n")
PY
# Relative paths from inside $tmp: spm_train records --input/--model_prefix in the model.
(cd "$tmp" && spm_train --input=corpus.txt --model_prefix=tokenizer --vocab_size="$VOCAB_SIZE" \
  --model_type=bpe --character_coverage=1.0 --byte_fallback=true --num_threads=1 \
  --random_seed=1 --bos_id=1 --eos_id=2 --unk_id=0 --pad_id=-1 \
  --normalization_rule_name=identity --remove_extra_whitespaces=false > train.log 2>&1) ||
  { cat "$tmp/train.log" >&2; exit 1; }
cp "$tmp/tokenizer.model" tokenizer.model
echo "wrote $(pwd): $(ls images | wc -l) images, tokenizer.model ($VOCAB_SIZE pieces)"
