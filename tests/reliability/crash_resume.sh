#!/usr/bin/env bash
# The crash-resume campaign at full size (CTest runs 5 kills on 1 rank and 1 on 2 ranks): SIGKILL
# the tiny pretrain at N seeded moments, resume after each, and compare the end with an
# uninterrupted run bit for bit (tests/reliability/crash_resume_test.cpp does the work; the
# moments and checks are described in docs/reliability.md). Run from the repository root:
#
#   tests/reliability/crash_resume.sh                     # 50 kills, 1 rank, seed 1
#   tests/reliability/crash_resume.sh --ranks 2 --kills 10 --seed 7
#   tests/reliability/crash_resume.sh --ranks 2 --set dist.zero_stage=1 --set trainer.grad_accum=2
#
# --set KEY=VALUE (repeatable) adds a config override to the reference run and every campaign
# process (IBLLM_CRASH_SET), so the same kills cover ZeRO-1, accumulation, other schedules.
#
# Prints one line per kill and ends with
#   crash_resume: N kills -> K clean resumes, C corrupt checkpoints, bitwise: yes|no
# and the wall time. Exit status 0 only when every kill resumed cleanly and the runs are bitwise
# equal. IBLLM_KEEP_SCRATCH=1 keeps the run directories (build/test_scratch/<pid>/).
set -euo pipefail

kills=50
ranks=1
seed=1
build=${IBLLM_BUILD_DIR:-build}
sets=()
usage() {
  echo "usage: $0 [--kills N] [--ranks 1|2] [--seed S] [--build DIR] [--set KEY=VALUE ...]" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --kills) kills=${2:?}; shift 2 ;;
    --ranks) ranks=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --set)
      if [[ ! ${2:-} =~ ^[A-Za-z0-9_.-]+=[A-Za-z0-9_.=-]+$ ]]; then
        echo "crash_resume.sh: --set wants KEY=VALUE (letters, digits, _ . -), got '${2:-}'" >&2
        exit 2
      fi
      sets+=("$2"); shift 2 ;;
    *) usage ;;
  esac
done
[[ $kills =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] || usage
[[ -x $build/ibllm_tests ]] || { echo "crash_resume.sh: $build/ibllm_tests not built" >&2; exit 2; }

case $ranks in
  1) filter='[crash_resume]~[ddp]'; export IBLLM_CRASH_KILLS=$kills ;;
  2) filter='[crash_resume][ddp]'; export IBLLM_CRASH_KILLS_2RANK=$kills ;;
  *) echo "crash_resume.sh: --ranks must be 1 or 2" >&2; exit 2 ;;
esac
export IBLLM_CRASH_SEED=$seed
export IBLLM_CRASH_SET="${sets[*]:-}"

start=$(date +%s.%N)
status=0
"$build/ibllm_tests" "$filter" || status=$?
end=$(date +%s.%N)
printf 'crash_resume.sh: %d kills on %d rank(s), seed %d%s: wall time %.0f s, exit %d\n' \
  "$kills" "$ranks" "$seed" "${IBLLM_CRASH_SET:+, --set $IBLLM_CRASH_SET}" \
  "$(awk "BEGIN { print $end - $start }")" "$status"
exit "$status"
