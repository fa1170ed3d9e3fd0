#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, IBLLM_FUZZ=ON, in build-fuzz/) if needed and runs each one
# for SECONDS, one at a time, then prints per harness: executions, time, crashes, leaks, UB
# reports, timeouts and out-of-memory stops, and peak RSS. Seeds: tests/fuzz/corpus/<h> and
# tests/fuzz/regressions/<h> (read only); new inputs go to build-fuzz/work/<h>, findings to
# build-fuzz/findings/<h>/ and the log to build-fuzz/logs/<h>.log. Exits 1 when anything was found.
# Usage: tests/fuzz/run.sh SECONDS [harness ...]
#   FUZZ_RUNS=1000000  also stop a harness after this many executions (whichever comes first)
#   FUZZ_BUILD_DIR     (default build-fuzz), FUZZ_ARGS: extra libFuzzer flags
#   FUZZ_WORKERS=N     run N fuzzing processes per harness at once, sharing its work corpus
#                      (libFuzzer reloads it every second); FUZZ_RUNS is split between them and
#                      the table sums their executions. Logs: build-fuzz/logs/<h>.<k>.log.
#   FUZZ_LEAK_PASS="pth"  harnesses whose executions run without per-input leak checks, followed by
#                      one leak-checked pass over every input they kept (work corpus and seeds).
#                      For pth: LibTorch's reader leaks on every rejected archive (suppressed, see
#                      libfuzzer_main.cpp), and a suppressed leak still costs a whole-heap scan per
#                      input (175 -> 5,200 exec/s without it). The leaks column is the pass's count.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$(pwd)"
SECONDS_EACH="${1:?usage: tests/fuzz/run.sh SECONDS [harness ...]}"
shift
ALL=(safetensors pth pickle config tsv json_records sentencepiece clip_text clip_vocab npy point_cloud
     audio)
HARNESSES=("${@:-${ALL[@]}}")
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
WORKERS="${FUZZ_WORKERS:-1}"
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || { echo "error: FUZZ_WORKERS must be a positive integer, got '$WORKERS'" >&2; exit 2; }

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
done
if [[ ! -f "$BUILD/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DIBLLM_FUZZ=ON
fi
targets=()
for h in "${HARNESSES[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$BUILD" -j "${JOBS:-2}" --target "${targets[@]}"

mkdir -p "$BUILD/logs"
found=0
rows=()
LEAK_PASS=" ${FUZZ_LEAK_PASS-pth} "

for h in "${HARNESSES[@]}"; do
  work="$BUILD/work/$h" findings="$BUILD/findings/$h" log="$BUILD/logs/$h.log"
  mkdir -p "$work" "$findings"
  seeds=()
  for d in tests/fuzz/corpus/$h tests/fuzz/regressions/$h; do [[ -d $d ]] && seeds+=("$d"); done
  args=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -print_funcs=0 -artifact_prefix="$findings/")
  [[ -n "${FUZZ_RUNS:-}" ]] && args+=(-runs="$FUZZ_RUNS")
  leak_pass=0
  [[ "$LEAK_PASS" == *" $h "* ]] && { leak_pass=1; args+=(-detect_leaks=0); }
  [[ -f tests/fuzz/dict/$h.dict ]] && args+=(-dict="tests/fuzz/dict/$h.dict")
  before=$(ls "$findings" | wc -l)
  start=$(date +%s.%N)
  rc=0
  # One process, or WORKERS processes on the same work corpus, each with its share of FUZZ_RUNS.
  logs=()
  pids=()
  for (( k = 1; k <= WORKERS; k++ )); do
    wlog="$log"
    (( WORKERS > 1 )) && wlog="$BUILD/logs/$h.$k.log"
    wargs=("${args[@]}")
    if [[ -n "${FUZZ_RUNS:-}" ]]; then
      wargs=("${wargs[@]/#-runs=*/-runs=$(( (FUZZ_RUNS + WORKERS - k) / WORKERS ))}")
    fi
    logs+=("$wlog")
    # shellcheck disable=SC2086
    "$BUILD/fuzz_$h" "${wargs[@]}" ${FUZZ_ARGS:-} "$work" "${seeds[@]}" >"$wlog" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=$?; done
  log="${logs[0]}"
  if (( leak_pass )); then
    # Every kept input once, leak checks on (per input and at exit); appended to the same log.
    echo "=== leak pass over $work ${seeds[*]}" >>"$log"
    # shellcheck disable=SC2086
    "$BUILD/fuzz_$h" -runs=0 -detect_leaks=1 -rss_limit_mb=2048 -timeout=10 ${FUZZ_ARGS:-} \
      "$work" "${seeds[@]}" >>"$log" 2>&1 || rc=$?
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  # Per log: the final stats, or (a run stopped by a finding prints none) the last "#N ..."
  # status line; summed over the workers' logs.
  execs=0
  for l in "${logs[@]}"; do
    n=$(awk '/stat::number_of_executed_units/ && !done { n = $NF; done = 1 } END { print n + 0 }' "$l")
    if (( n == 0 )); then
      n=$(awk '/^#[0-9]+/ { n = substr($1, 2) } END { print n + 0 }' "$l")
    fi
    execs=$(( execs + n ))
  done
  count() { cat "${logs[@]}" | grep -cE "$1" || true; }
  rss=$(cat "${logs[@]}" | awk '/stat::peak_rss_mb/ { if ($NF > n) n = $NF } END { print n + 0 }')
  crashes=$(count "ERROR: (AddressSanitizer|libFuzzer: deadly signal|libFuzzer: fuzz target exited)|uncaught exception|terminate called")
  leaks=$(count "ERROR: LeakSanitizer")
  ub=$(count "runtime error:")
  timeouts=$(count "ERROR: libFuzzer: timeout")
  ooms=$(count "ERROR: libFuzzer: out-of-memory|malloc limit")
  new=$(( $(ls "$findings" | wc -l) - before ))
  if (( rc != 0 || new > 0 )); then found=1; fi
  rows+=("$(printf '%-14s %10s %6s %8s %7s %5s %3s %8s %4s %7s %s' "$h" "$execs" "$secs" \
    "$(( secs > 0 ? execs / secs : execs ))" "$crashes" "$leaks" "$ub" "$timeouts" "$ooms" "$rss" \
    "$( (( new > 0 )) && echo "-> $findings" || true)")")
done

printf '%-14s %10s %6s %8s %7s %5s %3s %8s %4s %7s\n' harness execs secs exec/s crashes leaks UB \
  timeouts oom rss_mb
printf '%s\n' "${rows[@]}"
(( found == 0 )) || echo "findings: see $BUILD/logs/<harness>.log and the files named above" >&2
exit "$found"
