#!/usr/bin/env bash
# Runs the whole test suite: installs missing Debian packages, configures and builds (Release,
# ccache, shared PCH), then runs every test through CTest and lists the entries that skipped (with
# their reason; tests/skip_summary.sh). Exits non-zero on any failure.
# Usage: ./tests/run.sh            (BUILD_DIR=build by default; extra args go to ctest)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"

bash launch/install_deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
rc=0
ctest --output-on-failure -j "$JOBS" "$@" || rc=$?
bash "$ROOT/tests/skip_summary.sh" Testing/Temporary/LastTest.log
exit "$rc"
