#!/usr/bin/env bash
# The GPU check, run in one call on the GPU machine (LibTorch 2.x + CUDA from the pip wheel, no
# OpenCV, Catch2 v3, yaml-cpp 0.8): configure, build, run the tests and `ibllm info`, and leave
# the logs in $OUT (or ./gpu_check_out). Later issues append their GPU tests and benchmarks here.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
BUILD_DIR="${BUILD_DIR:-build-gpu}"
TORCH_PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
NCCL_INC="$(python3 -c 'import nvidia.nccl,os;print(os.path.join(os.path.dirname(nvidia.nccl.__file__),"include"))' 2>/dev/null || true)"

{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  echo "== configure"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DIBLLM_WITH_OPENCV=OFF -DIBLLM_WITH_SNDFILE=AUTO \
    -DIBLLM_NCCL_INCLUDE_DIR="$NCCL_INC" && \
  echo "== build" && cmake --build "$BUILD_DIR" -j "$(nproc)" && \
  echo "== ibllm info" && "$BUILD_DIR/ibllm" info && \
  echo "== tests (CPU + GPU-tagged)" && (cd "$BUILD_DIR" && ctest --output-on-failure -j 8) && \
  "$BUILD_DIR/ibllm_tests" "[.gpu]" --order decl
  echo "== bench: 7B-shaped training steps, random weights (compare ../shared/docs/gpu_machine.md)"
  "$BUILD_DIR/ibllm" bench configs/pretrain_7b.yaml --batch-sizes 4,16 --set run.log_level=warn
  "$BUILD_DIR/ibllm" bench configs/finetune_7b.yaml --batch-sizes 4 --set run.log_level=warn
  echo "== bench: 7B-shaped decoding (bf16 weights; bound = weight bytes / HBM bandwidth)"
  "$BUILD_DIR/ibllm" bench configs/finetune_7b.yaml --decode --batch-sizes 1,8 \
    --set generation.max_gen_len=128 --set run.log_level=warn
  echo "== distributed (#8): NCCL world size 1, the synced step and the bucket all-reduce bandwidth"
  "$BUILD_DIR/ibllm" bench configs/pretrain_7b.yaml --batch-sizes 4 --set bench.grad_sync=true \
    --set run.log_level=warn
  "$BUILD_DIR/ibllm" bench configs/finetune_7b.yaml --batch-sizes 4 --set bench.grad_sync=true \
    --set dist.overlap=false --set run.log_level=warn
  "$BUILD_DIR/ibllm" bench configs/finetune_7b.yaml --batch-sizes 4 --set bench.grad_sync=true \
    --set run.log_level=warn
  echo "== distributed (#8): torchrun --no-python, 1 rank, tiny training on the GPU"
  NPROC=1 IBLLM_BIN="$BUILD_DIR/ibllm" TORCHRUN="python3 -m torch.distributed.run" \
    launch/torchrun.sh configs/tiny_pretrain.yaml --set run.device=cuda --set trainer.max_steps=20 \
    --set run.output_dir="$OUT/runs" --set trainer.progress_bar=false
  echo "gpu_check exit: $?"
} 2>&1 | tee "$OUT/gpu_check.log"
