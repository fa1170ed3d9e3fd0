#!/usr/bin/env bash
# Long-run soak on the CPU (issue 18): the tiny pretrain for STEPS steps (default 2000) with eval
# every 100 steps, a checkpoint every 100 steps and checkpoint.keep_last 2, on a copy of the shapes
# captions where 1 % of the rows point at damaged images (truncated PNG, random bytes, empty file,
# missing file). While it runs, the resident set (VmRSS), the open file descriptors and the run
# directory's disk usage are sampled every SAMPLE_S seconds; at the end it prints them at the first
# checkpoint and at the end, the largest disk usage, the skipped-sample count, and one line
# "soak: ... rss_growth ... fds ... disk ..." with PASS/FAIL against these limits:
#   RSS at the end ≤ RSS after the first checkpoint · (1 + RSS_TOLERANCE) (default 0.05),
#   open descriptors at the end = after the first checkpoint (± FD_TOLERANCE, default 2),
#   checkpoints on disk never more than keep_last + 1 (one being written) and no .tmp left.
# Usage: tests/reliability/soak.sh [STEPS] [WORK_DIR]   (IBLLM_BIN=build/ibllm by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
STEPS="${1:-2000}"
WORK="${2:-$(mktemp -d /tmp/ibllm_soak.XXXXXX)}"
BIN="${IBLLM_BIN:-build/ibllm}"
SAMPLE_S="${SAMPLE_S:-2}"
RSS_TOL="${RSS_TOLERANCE:-0.05}"
FD_TOL="${FD_TOLERANCE:-2}"
[[ -x $BIN ]] || { echo "soak: $BIN not found; build first (tests/run.sh) or set IBLLM_BIN" >&2; exit 2; }
mkdir -p "$WORK/data"
SHAPES="$PWD/data/samples/shapes"

# The damaged copy of the training captions: every 100th row's image is replaced by a broken file.
python3 - "$SHAPES" "$WORK/data" <<'PY'
import os, random, sys
src, dst = sys.argv[1], sys.argv[2]
rows = open(os.path.join(src, "captions_train.tsv")).read().splitlines()
out = [rows[0]]
kinds = ["truncated", "random", "empty", "missing"]
random.seed(18)
n_bad = 0
for i, row in enumerate(rows[1:]):
    path, caption = row.split("\t", 1)
    if i % 100 == 50:
        kind = kinds[n_bad % len(kinds)]
        bad = os.path.join(dst, f"bad_{i:04d}_{kind}.png")
        good = open(os.path.join(src, path), "rb").read()
        if kind == "truncated":
            open(bad, "wb").write(good[: len(good) // 3])
        elif kind == "random":
            open(bad, "wb").write(bytes(random.getrandbits(8) for _ in range(len(good))))
        elif kind == "empty":
            open(bad, "wb").close()
        out.append(f"{bad}\t{caption}")
        n_bad += 1
    else:
        out.append(f"{os.path.join(src, path)}\t{caption}")
open(os.path.join(dst, "captions_train.tsv"), "w").write("\n".join(out) + "\n")
print(f"soak: {len(out) - 1} training rows, {n_bad} damaged ({100.0 * n_bad / (len(out) - 1):.2f} %)")
PY

RUN_DIR="$WORK/runs/soak"
LOG="$WORK/train.log"
SAMPLES="$WORK/samples.tsv"
"$BIN" train configs/tiny_pretrain.yaml \
  --set run.name=soak --set "run.output_dir=$WORK/runs" --set run.log_level=info \
  --set "data.sources[0].path=$WORK/data/captions_train.tsv" --set "data.sources[0].image_root=/" \
  --set data.max_skip_fraction=0.05 --set trainer.epochs=1000 --set "trainer.max_steps=$STEPS" \
  --set trainer.log_every=100 --set trainer.eval_every=100 --set trainer.eval_max_batches=4 \
  --set checkpoint.every_steps=100 --set checkpoint.keep_last=2 >"$LOG" 2>&1 &
PID=$!
t0=$SECONDS
echo -e "t_s\tstep\trss_kb\tfds\tdisk_kb\tcheckpoints\ttmp_dirs" >"$SAMPLES"
max_ckpts=0
while kill -0 "$PID" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || true)
  fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l || true)
  step=$(grep -o '"step": *[0-9]*' "$RUN_DIR/metrics.jsonl" 2>/dev/null | tail -1 | grep -o '[0-9]*$' || true)
  disk=$(du -sk "$RUN_DIR" 2>/dev/null | cut -f1 || true)
  ckpts=$(find "$RUN_DIR/checkpoints" -maxdepth 1 -type d -name 'step_*' ! -name '*.tmp' 2>/dev/null | wc -l || true)
  tmps=$(find "$RUN_DIR/checkpoints" -maxdepth 1 -name '*.tmp' 2>/dev/null | wc -l || true)
  (( ckpts > max_ckpts )) && max_ckpts=$ckpts
  [[ -n $rss && -n $fds ]] && echo -e "$((SECONDS - t0))\t${step:-0}\t$rss\t$fds\t${disk:-0}\t$ckpts\t$tmps" >>"$SAMPLES"
  sleep "$SAMPLE_S"
done
rc=0; wait "$PID" || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "soak: training exited with $rc after $((SECONDS - t0)) s; last lines of $LOG:" >&2
  tail -20 "$LOG" >&2
  exit 1
fi
tmp_left=$(find "$RUN_DIR/checkpoints" -maxdepth 1 -name '*.tmp' | wc -l)
python3 - "$SAMPLES" "$STEPS" "$RSS_TOL" "$FD_TOL" "$max_ckpts" "$tmp_left" "$((SECONDS - t0))" \
  "$RUN_DIR/metrics.jsonl" <<'PY'
import json, sys
path, steps, rss_tol, fd_tol, max_ckpts, tmp_left, wall, metrics = sys.argv[1:]
rows = [l.split("\t") for l in open(path).read().splitlines()[1:]]
rows = [[int(x) for x in r] for r in rows]
# Reference point: the first sample after the first checkpoint (step ≥ 100), when every buffer,
# the loader's threads and the eval path have been created once.
ref = next((r for r in rows if r[1] >= 100), rows[0])
end = rows[-1]
growth = end[2] / ref[2] - 1.0
peak = max(r[2] for r in rows)
fd_ok = abs(end[3] - ref[3]) <= int(fd_tol)
rss_ok = growth <= float(rss_tol)
disk_ok = int(max_ckpts) <= 3 and int(tmp_left) == 0
train = [json.loads(l) for l in open(metrics) if '"train"' in l]
last = train[-1] if train else {}
print(f"soak: samples {len(rows)} over {wall} s; reference = t {ref[0]} s, step {ref[1]}")
print(f"soak: RSS   {ref[2] / 1024:.1f} MiB at step {ref[1]} -> {end[2] / 1024:.1f} MiB at step {end[1]} "
      f"(growth {100 * growth:+.2f} %, peak {peak / 1024:.1f} MiB)")
print(f"soak: fds   {ref[3]} -> {end[3]} (min {min(r[3] for r in rows)}, max {max(r[3] for r in rows)})")
print(f"soak: disk  {ref[4]} kB -> {end[4]} kB (max {max(r[4] for r in rows)} kB); "
      f"step dirs at most {max_ckpts}; .tmp left {tmp_left}")
ok = rss_ok and fd_ok and disk_ok and last.get("step") == int(steps)
print(f"soak: last train record: step {last.get('step')}, loss {last.get('loss')}, "
      f"skipped samples {last.get('skipped_samples')}, bad steps {last.get('bad_steps')}")
print(f"soak: {steps} steps: rss_growth {100 * growth:+.2f} % ({'ok' if rss_ok else 'FAIL'}), "
      f"fds {ref[3]}->{end[3]} ({'ok' if fd_ok else 'FAIL'}), "
      f"disk bounded ({'ok' if disk_ok else 'FAIL'}): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
rc=$?
echo "soak: log $LOG, samples $SAMPLES"
exit $rc
