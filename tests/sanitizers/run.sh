#!/usr/bin/env bash
# The CPU test suite under sanitizers (issue 18): configures and builds a second tree with
# -DIBLLM_SANITIZE=<list> (default address,undefined; "thread" for ThreadSanitizer) and runs CTest
# there with the sanitizer options below; every report fails the test that triggered it (UBSan
# aborts: -fno-sanitize-recover; ASan/LSan exit non-zero). Extra arguments go to ctest (e.g.
# -R loader). LibTorch, OpenCV and the other libraries are not instrumented.
#   Usage: tests/sanitizers/run.sh [address,undefined|thread] [ctest args...]
#   BUILD_DIR (default build-asan or build-tsan), JOBS (default nproc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"
SAN="${1:-address,undefined}"
shift || true
case "$SAN" in
  thread) DEF_DIR=build-tsan ;;
  *) DEF_DIR=build-asan ;;
esac
BUILD_DIR="${BUILD_DIR:-$DEF_DIR}"
JOBS="${JOBS:-$(nproc)}"
bash launch/install_deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIBLLM_SANITIZE="$SAN"
cmake --build "$BUILD_DIR" -j "$JOBS"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export TSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/tsan.supp:halt_on_error=0:exitcode=66:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
cd "$BUILD_DIR"
rc=0
ctest --output-on-failure -j "$JOBS" "$@" || rc=$?
bash "$ROOT/tests/skip_summary.sh" Testing/Temporary/LastTest.log
exit "$rc"
