#!/usr/bin/env bash
# The built binaries against the issue-16 link rules (CTest build/binaries):
#   - no load-time dependency on the driver (libcuda.so.1) and no unresolved library,
#   - the CUDA libraries a CUDA build loads come from the torch wheel (torch/lib, nvidia/*/lib) through
#     the RPATH, never from the CUDA toolkit (its older cudart/cuBLAS under the wheel's torch corrupt
#     the heap: docs/gpu.md), and nothing needs LD_LIBRARY_PATH,
#   - no gloo:: code is compiled into ibllm (Debian's Gloo headers only declare; the wheel runs Gloo),
#   - `ibllm info` runs here and reports the torch, CUDA, cuDNN and NCCL versions.
# Usage: tests/build_check.sh <ibllm> [<other binary>...]
set -uo pipefail
fail=0
bad() { echo "build_check: FAIL: $*"; fail=1; }
cli="$1"
info="$(env -u LD_LIBRARY_PATH "$cli" info --json)" || bad "'$cli info --json' failed"
echo "$info"
cuda_built=$(echo "$info" | grep -c '"cuda_built": true')
for bin in "$@"; do
  echo "== $bin"
  deps="$(env -u LD_LIBRARY_PATH ldd "$bin")" || bad "ldd $bin failed"
  echo "$deps" | grep -E "torch|nvidia|cuda|cudnn|nccl|cublas" | sed 's/^/   /'
  echo "$deps" | grep -q "not found" && bad "$bin: unresolved libraries: $(echo "$deps" | grep 'not found')"
  echo "$deps" | grep -q "libcuda\.so" && bad "$bin loads the driver library libcuda.so at start-up"
  if [[ $cuda_built -eq 1 ]]; then
    echo "$deps" | grep -q "libtorch_cuda\.so" || bad "$bin: a CUDA build must load libtorch_cuda.so (CUDA kernels register there)"
    toolkit=$(echo "$deps" | grep -E "=> /usr/local/cuda" || true)
    [[ -n "$toolkit" ]] && bad "$bin loads CUDA libraries from the toolkit, not the wheel: $toolkit"
  fi
  readelf -d "$bin" | grep -qE "R(UN)?PATH.*torch/lib" || bad "$bin has no RPATH to the wheel's torch/lib"
  gloo=$(nm -C --defined-only "$bin" 2>/dev/null | grep -E " gloo::" | head -5)
  [[ -n "$gloo" ]] && bad "$bin defines gloo:: symbols (compiled from Debian's Gloo headers): $gloo"
done
for key in '"libtorch"' '"cuda_device"'; do
  echo "$info" | grep -q "$key" || bad "ibllm info lacks $key"
done
if [[ $cuda_built -eq 1 ]]; then
  for key in '"torch_cuda"' '"cudnn"' '"nccl"'; do
    echo "$info" | grep -q "$key" || bad "ibllm info lacks $key"
  done
fi
# `blas` names what torch's matmuls call (BLAS_INFO of the torch build), not just any BLAS loaded.
py=.venv/bin/python; [[ -x $py ]] || py=python3
torch_blas=$("$py" -c "import re, torch; print(re.search(r'BLAS_INFO=(\w+)', torch.__config__.show()).group(1))" 2>/dev/null)
if [[ "$torch_blas" == mkl ]]; then
  echo "$info" | grep -q '"blas": "mkl"' || bad "ibllm info's blas is not torch's BLAS_INFO=mkl: $(echo "$info" | grep '"blas"')"
elif [[ -z "$torch_blas" ]]; then
  echo "build_check: skipped the blas check: no Python with torch found to read BLAS_INFO"
fi
[[ $fail -eq 0 ]] && echo "build_check: OK"
exit $fail
