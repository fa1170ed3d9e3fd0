#!/usr/bin/env bash
# Lists the CTest entries that skipped and why (their first "skipped: <why>" line), from CTest's
# LastTest.log, so a skip is never mistaken for a pass. Used by tests/run.sh after ctest.
# Usage: tests/skip_summary.sh <build>/Testing/Temporary/LastTest.log
set -euo pipefail
log="${1:?usage: skip_summary.sh LastTest.log}"
[[ -f "$log" ]] || { echo "skip summary: no $log"; exit 0; }
awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", name); next }
  /skipped: / && name != "" && !(name in why) {
    line = $0; sub(/.*skipped: /, "", line); why[name] = line; order[++n] = name
  }
  END {
    if (n == 0) { print "skipped: none (every CTest entry ran its cases)"; exit }
    printf "skipped: %d CTest entr%s (not passes):\n", n, n == 1 ? "y" : "ies"
    for (i = 1; i <= n; ++i) printf "  %-60s %s\n", order[i], why[order[i]]
  }' "$log"
