#!/usr/bin/env bash
# Developer check: syntax-checks ibllm's translation units against LibTorch 2.x headers, so code
# written on the Debian 12 machine (LibTorch 1.13) is known to compile for the GPU build
# (LibTorch 2.x). The headers are Debian trixie's libtorch-dev (2.6), fetched with
# `apt-get download` into a private apt state (nothing is installed) and unpacked under
# build/torch2/. Then every command of build/compile_commands.json runs with -fsyntax-only, the
# 2.x include directories first and without the precompiled header (so missing includes show).
# With --cuda, the CUDA/NCCL paths too (needs /usr/local/cuda/include with nccl.h).
#
#   tests/torch2_headers.sh [--cuda] [path-filter ...]     # after cmake -B build
#   tests/torch2_headers.sh --ci     # CTest: the version- and CUDA-dependent files, CPU and CUDA
# BUILD_DIR (build) names the build directory. Exit 0 when every file passes; 1 with the first
# errors of each failing file; 77 (CTest: skipped) when the headers cannot be fetched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [[ ${1:-} == --ci ]]; then
  # The translation units whose code depends on the LibTorch version, CUDA or c10d.
  FILES=(src/distributed/ src/core/runtime_info src/checkpoint/rng_state trainers/device_stats
         trainers/data_parallel models/llama/attention models/llama/config)
  CUDA_FILES=(src/distributed/communicator src/distributed/process_group src/core/runtime_info
              src/checkpoint/rng_state trainers/device_stats)
  "$0" "${FILES[@]}"
  if [[ -f /usr/local/cuda/include/nccl.h ]]; then "$0" --cuda "${CUDA_FILES[@]}"; fi
  exit 0
fi
CUDA=0
if [[ ${1:-} == --cuda ]]; then CUDA=1; shift; fi
[[ -f $BUILD_DIR/compile_commands.json ]] || { echo "torch2_headers: configure first (cmake -S . -B $BUILD_DIR -G Ninja)" >&2; exit 2; }
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
ROOT=$BUILD_DIR/torch2
INC=$ROOT/root/usr/include
if [[ ! -f $INC/torch/csrc/api/include/torch/version.h ]]; then
  mkdir -p "$ROOT"/{lists,cache/archives/partial,etc}
  echo "deb [trusted=yes] http://deb.debian.org/debian trixie main" > "$ROOT/etc/sources.list"
  APT=(-o Dir::Etc::SourceList="$ROOT/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o Dir::State::Lists="$ROOT/lists" -o Dir::Cache="$ROOT/cache" -o Debug::NoLocking=1
       -o APT::Sandbox::User=root)
  if ! timeout 300 apt-get "${APT[@]}" update -qq ||
     ! (cd "$ROOT" && timeout 300 apt-get "${APT[@]}" download libtorch-dev) ||
     ! dpkg-deb -x "$ROOT"/libtorch-dev_*.deb "$ROOT/root"; then
    echo "torch2_headers: SKIPPED: could not fetch Debian trixie's libtorch-dev (network or permissions)"
    exit 77
  fi
fi
# Debian's CPU build lacks this generated header; the CUDA headers include it.
mkdir -p "$ROOT/stub/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$ROOT/stub/c10/cuda/impl/cuda_cmake_macros.h"
V=$INC/torch/csrc/api/include/torch/version.h
echo "torch2_headers: LibTorch $(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$V") headers, cuda=$CUDA"

INC="$INC" STUB="$ROOT/stub" CUDA=$CUDA CC_JSON="$BUILD_DIR/compile_commands.json" exec /usr/bin/python3 - "$@" <<'PY'
import json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
inc, stub, cuda = os.environ["INC"], os.environ["STUB"], os.environ["CUDA"] == "1"
extra = ["-isystem", inc, "-isystem", inc + "/torch/csrc/api/include"]
override = {}
if cuda:
    override = {"-DIBLLM_WITH_CUDA": "-DIBLLM_WITH_CUDA=1", "-DIBLLM_WITH_NCCL": "-DIBLLM_WITH_NCCL=1"}
    extra += ["-DUSE_C10D_NCCL", "-DUSE_CUDA", "-isystem", "/usr/local/cuda/include", "-isystem", stub]
jobs = []
for c in json.load(open(os.environ["CC_JSON"])):
    f = c["file"]
    if sys.argv[1:] and not any(x in f for x in sys.argv[1:]):
        continue
    args, out, skip = shlex.split(c["command"]), [], False
    for t in args:
        if skip:
            skip = False
            continue
        if t in ("-include", "-o"):
            skip = True
            continue
        if t in ("-c", "-Winvalid-pch") or t == f:
            continue
        out.append(override.get(t.split("=")[0], t))
    jobs.append((f, [out[0]] + extra + out[1:] + ["-fsyntax-only", f], c["directory"]))
def check(job):
    f, cmd, cwd = job
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    return f, r.returncode, [l for l in r.stderr.splitlines() if "error" in l][:6]
failed = 0
with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
    for f, rc, errs in ex.map(check, jobs):
        if rc:
            failed += 1
            print("FAIL", f, *errs, sep="\n  ")
print(f"torch2_headers: {len(jobs)} files, {failed} failed")
sys.exit(1 if failed else 0)
PY
