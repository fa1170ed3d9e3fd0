#!/usr/bin/env bash
# The GPU check, run in one call on the GPU machine (LibTorch 2.x + CUDA from the pip wheel, no
# OpenCV, Catch2 v3, yaml-cpp 0.8): configure, build, then in order of value — `ibllm info`, the
# hidden [.gpu] tests, the 7B-shaped benchmarks (#7 training step, #9 decoding, #8 NCCL group of
# one with the gradient sync, torchrun), and last the whole CPU suite — each step bounded by
# `timeout` so one hang cannot eat the device budget. Logs go to $OUT (or ./gpu_check_out).
#   STEP_TIMEOUT (s, 240) bounds each step; SKIP_CTEST=1 leaves out the CPU suite.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
BUILD_DIR="${BUILD_DIR:-build-gpu}"
T="${STEP_TIMEOUT:-240}"
TORCH_PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
NCCL_INC="$(python3 -c 'import nvidia.nccl,os;print(os.path.join(os.path.dirname(nvidia.nccl.__file__),"include"))' 2>/dev/null || true)"
B="$BUILD_DIR/ibllm"
W="--set run.log_level=warn"

step() {  # step <title> <command...>: bounded, timed, never stops the script
  echo "== $1"
  local t0=$SECONDS
  timeout "$T" "${@:2}"
  echo "   [$1: exit $?, $((SECONDS - t0)) s]"
}

{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  echo "== configure + build"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DIBLLM_WITH_OPENCV=OFF -DIBLLM_WITH_SNDFILE=AUTO \
    -DIBLLM_NCCL_INCLUDE_DIR="$NCCL_INC" && cmake --build "$BUILD_DIR" -j "$(nproc)" || {
      echo "gpu_check: build failed"; exit 1; }
  step "ibllm info" "$B" info
  step "[.gpu] tests" "$BUILD_DIR/ibllm_tests" "[.gpu]" --order decl
  echo "-- 7B-shaped benchmarks, random weights (compare ../shared/docs/gpu_machine.md)"
  step "bench pretrain_7b b4,16" "$B" bench configs/pretrain_7b.yaml --batch-sizes 4,16 $W
  step "bench finetune_7b b4" "$B" bench configs/finetune_7b.yaml --batch-sizes 4 $W
  step "bench decode b1,8 (bound: weight bytes / HBM bandwidth)" "$B" bench \
    configs/finetune_7b.yaml --decode --batch-sizes 1,8 --set generation.max_gen_len=128 $W
  echo "-- #8: NCCL group of one, the synced step and the bucket all-reduce bandwidth"
  step "bench pretrain_7b grad_sync (ZeRO-1 config)" "$B" bench configs/pretrain_7b.yaml \
    --batch-sizes 4 --set bench.grad_sync=true $W
  step "bench finetune_7b grad_sync, no overlap" "$B" bench configs/finetune_7b.yaml \
    --batch-sizes 4 --set bench.grad_sync=true --set dist.overlap=false $W
  step "bench finetune_7b grad_sync, overlap" "$B" bench configs/finetune_7b.yaml \
    --batch-sizes 4 --set bench.grad_sync=true $W
  step "torchrun --no-python, 1 rank, tiny training on cuda" env NPROC=1 IBLLM_BIN="$B" \
    TORCHRUN="python3 -m torch.distributed.run" launch/torchrun.sh configs/tiny_pretrain.yaml \
    --set run.device=cuda --set trainer.max_steps=20 --set run.output_dir="$OUT/runs" \
    --set trainer.progress_bar=false --set schedule.warmup_steps=2
  if [[ -z ${SKIP_CTEST:-} ]]; then
    step "CPU test suite" bash -c "cd '$BUILD_DIR' && ctest --output-on-failure -j 8"
  fi
  echo "gpu_check: done"
} 2>&1 | tee "$OUT/gpu_check.log"
