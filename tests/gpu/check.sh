#!/usr/bin/env bash
# The GPU check, one command (≤ 8 min on one H100 including the build): configures and builds
# against the machine's own torch (the project .venv if present, else python3's torch; OpenCV off:
# the GPU machine has none, nor Gloo headers), prints `ibllm info`, then — only where a CUDA
# device is visible — the [cuda] tests and short 7B-shaped benchmarks. Every step is bounded by
# `timeout` and ends with one summary line "check: <name>: <result> (<s> s)"; all summary lines
# are repeated at the end. Without a CUDA device it reports "no CUDA device" after the build and
# exits 0, so it is known to work before a GPU is lent.
#   Usage: tests/gpu/check.sh [out_dir]   (default $OUT, else ./gpu_check_out)
#   STEP_TIMEOUT (s, default 200) bounds each step, BUILD_TIMEOUT (s, default 420) the build
#   (about 90 s on 16 cores; ~11 min on a 2-core machine, cold); BUILD_DIR (default build-gpu);
#   CONFIGURE_ARGS (default -DIBLLM_WITH_OPENCV=OFF). On a GPU it also runs the official-recipe
#   baseline (tests/gpu/baseline_official.py) and ends with one line per issue-17 target
#   (tests/gpu/targets.py); without a device those lines say "not measured: no CUDA device".
#   The ibllm benches run with model.llama.fused_kernels=on (the [cuda] tests check them first).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT_DIR="${1:-${OUT:-$PWD/gpu_check_out}}"
mkdir -p "$OUT_DIR"
BUILD_DIR="${BUILD_DIR:-build-gpu}"
T="${STEP_TIMEOUT:-200}"
B="$BUILD_DIR/ibllm"
W="--set run.log_level=warn"
F="--set model.llama.fused_kernels=on"
PY="$(command -v python3)"; [[ -x .venv/bin/python ]] && PY=.venv/bin/python
CONFIGURE_ARGS="${CONFIGURE_ARGS--DIBLLM_WITH_OPENCV=OFF}"
SUMMARY=()

step() {  # step <name> <command...>: bounded, timed, never stops the script
  local t0=$SECONDS rc limit="$T"
  [[ $1 == build ]] && limit="${BUILD_TIMEOUT:-420}"
  echo "== $1"
  timeout "$limit" "${@:2}"
  rc=$?
  local r="ok"; [[ $rc -ne 0 ]] && r="FAILED (exit $rc)"; [[ $rc -eq 124 ]] && r="TIMEOUT"
  SUMMARY+=("check: $1: $r ($((SECONDS - t0)) s)")
  echo "${SUMMARY[-1]}"
}

{
  echo "== machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi: none')"
  # shellcheck disable=SC2086  # CONFIGURE_ARGS is a list of flags
  step "configure" cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release $CONFIGURE_ARGS
  step "build" cmake --build "$BUILD_DIR" -j "$(nproc)"
  if [[ ! -x "$B" ]]; then
    echo "check: no binary, stopping"; printf '%s\n' "${SUMMARY[@]}"; exit 1
  fi
  step "ibllm info" "$B" info
  if ! "$B" info --json | grep -q '"cuda_available": true'; then
    SUMMARY+=("check: cuda: no CUDA device (build OK; the [cuda] tests and GPU benchmarks need a GPU)")
    echo "${SUMMARY[-1]}"
    step "baseline (tiny, CPU)" "$PY" tests/gpu/baseline_official.py --tiny
    while IFS= read -r l; do SUMMARY+=("$l"); done < <("$PY" tests/gpu/targets.py --no-device)
  else
    step "[cuda] tests" "$BUILD_DIR/ibllm_tests" "[cuda]" --order decl
    step "build/binaries (ldd, RPATH, info)" bash tests/build_check.sh "$B" "$BUILD_DIR/ibllm_tests"
    echo "-- 7B-shaped benchmarks, random weights (compare ../shared/docs/gpu_machine.md)"
    step "bench pretrain_7b b4,16" bash -c "\"$B\" bench configs/pretrain_7b.yaml --batch-sizes 4,16 $W $F | tee \"$OUT_DIR/bench_pretrain.jsonl\""
    step "bench finetune_7b b4" bash -c "\"$B\" bench configs/finetune_7b.yaml --batch-sizes 4 $W $F | tee \"$OUT_DIR/bench_finetune.jsonl\""
    step "bench decode b1,8,32" bash -c "\"$B\" bench configs/finetune_7b.yaml --decode --batch-sizes 1,8,32 --set generation.max_new_tokens=64 $W $F | tee \"$OUT_DIR/bench_decode.jsonl\""
    step "baseline official eager (7B shapes)" bash -c "\"$PY\" tests/gpu/baseline_official.py | tee \"$OUT_DIR/baseline.jsonl\""
    step "loader wait (ibllm train, tiny, bundled data)" "$B" train configs/tiny_pretrain.yaml \
      --set run.device=cuda --set run.output_dir="$OUT_DIR/runs" --set trainer.max_steps=20 $W $F
    step "bench pretrain_7b grad_sync (NCCL group of one)" "$B" bench configs/pretrain_7b.yaml \
      --batch-sizes 4 --set bench.grad_sync=true $W
  fi
  if "$B" info --json | grep -q '"cuda_available": true'; then
    while IFS= read -r l; do SUMMARY+=("$l"); done < <("$PY" tests/gpu/targets.py "$OUT_DIR")
  fi
  echo "== summary"
  printf '%s\n' "${SUMMARY[@]}"
  for s in "${SUMMARY[@]}"; do [[ $s == *FAILED* || $s == *TIMEOUT* ]] && exit 1; done
  exit 0
} 2>&1 | tee "$OUT_DIR/gpu_check.log"
exit "${PIPESTATUS[0]}"
