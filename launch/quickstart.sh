#!/usr/bin/env bash
# The main job on the bundled tiny default, on the CPU (about 5 minutes on 2 cores): installs
# missing packages, builds, prints the build facts, validates every shipped config, then runs the
# two ImageBind-LLM stages on the synthetic shapes data in data/samples/shapes/:
#   1. pretrain (configs/tiny_pretrain.yaml): bind network + prefix + gates on captions,
#   2. finetune (configs/tiny_finetune.yaml): LLaMA biases/norms/LoRA on instructions, from 1,
# then evaluates and exports the result (official key names, .safetensors + torch.load-able .pth).
# Runs land in runs/; running the script again resumes / reuses the finished runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR="${BUILD_DIR:-build}"

bash launch/install_deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$(nproc)" --target ibllm_cli ibllm_sentencepiece
IBLLM="$BUILD_DIR/ibllm"

echo "== ibllm info"
"$IBLLM" info
echo "== check-config (every shipped config; the 7B recipes without their weight files)"
for cfg in configs/*.yaml; do
  case "$cfg" in
    *_7b.yaml) "$IBLLM" check-config "$cfg" --quiet --no-files ;;
    *) "$IBLLM" check-config "$cfg" --quiet ;;
  esac
done

echo "== stage 1: pretrain (configs/tiny_pretrain.yaml)"
"$IBLLM" train configs/tiny_pretrain.yaml
"$IBLLM" export runs/tiny_pretrain/checkpoints/"$(cat runs/tiny_pretrain/checkpoints/latest)" \
  --out runs/tiny_pretrain/export

echo "== stage 2: finetune (configs/tiny_finetune.yaml) from the stage-1 export"
"$IBLLM" train configs/tiny_finetune.yaml \
  --set model.init.checkpoint=runs/tiny_pretrain/export/delta.safetensors
FT_CKPT=runs/tiny_finetune/checkpoints/"$(cat runs/tiny_finetune/checkpoints/latest)"

echo "== evaluate $FT_CKPT on the validation instructions"
"$IBLLM" eval "$FT_CKPT"
echo "== export $FT_CKPT"
"$IBLLM" export "$FT_CKPT" --out runs/tiny_finetune/export --merged
echo "== generate: answers about three held-out demo images (greedy)"
for i in 0 1 2; do
  img=data/samples/shapes/images/val_000$i.png
  echo "$img -> $("$IBLLM" generate "$FT_CKPT" --image "$img" --prompt $'<image>\nWhat shape is in the image?' \
    --temperature 0 --max-new-tokens 12 --set run.log_level=warn)"
done
echo "quickstart: done. Loss curves: runs/tiny_{pretrain,finetune}/metrics.jsonl (TensorBoard: runs/*/tb);"
echo "exports: runs/tiny_finetune/export/{delta.safetensors,delta.pth,merged.safetensors}"
