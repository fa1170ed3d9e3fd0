#!/usr/bin/env bash
# Developer check (root, Debian): runs launch/slurm.sbatch on a one-node Slurm cluster started on
# this machine, 2 CPU tasks with Gloo, and checks that (1) the run is bitwise equal to the same run
# under launch/local.sh, (2) scancel's SIGTERM makes every rank checkpoint and exit 143, (3) the
# resubmitted job resumes and ends bitwise equal to an uninterrupted run. Installs slurmd,
# slurmctld, slurm-client and munge if missing; the cluster's config, state and logs live in a
# temporary directory (SLURM_CONF), nothing under /etc/slurm is touched; the daemons it starts are
# stopped on exit. Needs ./build/ibllm and no other slurmctld/slurmd running.
#
#   sudo tests/slurm_local.sh          # prints "slurm_local: OK" or the first failed check
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trap 'echo "slurm_local: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
[[ $(id -u) == 0 ]] || { echo "slurm_local: run as root (starts Slurm daemons)" >&2; exit 2; }
[[ -x build/ibllm ]] || { echo "slurm_local: build first (cmake --build build)" >&2; exit 2; }
if pgrep -x slurmctld > /dev/null || pgrep -x slurmd > /dev/null; then
  echo "slurm_local: stop the running slurmctld/slurmd first (this check starts its own)" >&2; exit 2
fi
command -v slurmctld > /dev/null || apt-get install -y -qq --no-install-recommends \
  slurmd slurmctld slurm-client munge > /dev/null
HOST=$(hostname -s)
CPUS=$(nproc)
OUT=$(mktemp -d /tmp/ibllm_slurm.XXXXXX)
started=()
cleanup() {
  for p in "${started[@]}"; do pkill -x "$p" 2> /dev/null || true; done
  for _ in $(seq 50); do pgrep -x slurmctld > /dev/null || pgrep -x slurmd > /dev/null || break; sleep 0.2; done
}
trap cleanup EXIT

[[ -f /etc/munge/munge.key ]] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2> /dev/null
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
mkdir -p /run/munge "$OUT/ctld" "$OUT/d"
chown munge:munge /run/munge
export SLURM_CONF=$OUT/slurm.conf
cat > "$SLURM_CONF" <<CONF
ClusterName=ibllm-local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$OUT/ctld
SlurmdSpoolDir=$OUT/d
SlurmctldPidFile=$OUT/slurmctld.pid
SlurmdPidFile=$OUT/slurmd.pid
SlurmctldLogFile=$OUT/slurmctld.log
SlurmdLogFile=$OUT/slurmd.log
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST CPUs=$CPUS RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
pgrep -x munged > /dev/null || { su -s /bin/sh munge -c /usr/sbin/munged; started+=(munged); }
/usr/sbin/slurmctld; started+=(slurmctld)
/usr/sbin/slurmd; started+=(slurmd)
for _ in $(seq 30); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || { echo "slurm_local: the node did not come up (see $OUT/*.log)" >&2; exit 1; }

fail() { echo "slurm_local: FAILED: $*" >&2; exit 1; }
args() {  # args <output dir>
  echo "configs/tiny_pretrain.yaml --set run.output_dir=$1 --set trainer.max_steps=40"\
       "--set trainer.log_every=1 --set trainer.eval_every=0 --set schedule.warmup_steps=2"\
       "--set trainer.progress_bar=false --set data.batch_size=4 --set checkpoint.every_steps=40"\
       "--set trainer.eval_max_batches=2 --set dist.timeout_s=60"
}
submit() {  # submit <dir>: sbatch with the template's 2x8 GPU header overridden for 1 node x 2 CPUs
  sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 --time=10 \
    --output="$OUT/%j.out" launch/slurm.sbatch $(args "$1")
}
wait_job() { for _ in $(seq 300); do squeue -h -j "$1" | grep -q . || return 0; sleep 1; done; fail "job $1 still running"; }
losses() {  # "step loss" per train record, the last record per step (a resumed run re-logs)
  /usr/bin/python3 -c 'import json,sys
r={}
for l in open(sys.argv[1]):
    j=json.loads(l)
    if j.get("kind")=="train": r[j["step"]]=j["loss"]
print(sorted(r.items()))' "$1/tiny_pretrain/metrics.jsonl"
}

# (1) an uninterrupted job equals launch/local.sh
job=$(submit "$OUT/a"); wait_job "$job"
launch/local.sh 2 train $(args "$OUT/ref") > "$OUT/ref.log" 2>&1 || fail "local.sh run (see $OUT/ref.log)"
cmp -s "$OUT/a/tiny_pretrain/checkpoints/step_40/model.safetensors" \
       "$OUT/ref/tiny_pretrain/checkpoints/step_40/model.safetensors" || fail "sbatch run != local.sh run"
# (2) scancel -> SIGTERM -> checkpoint on every rank, exit 143
job=$(submit "$OUT/b")
for _ in $(seq 300); do
  n=$(grep -c '"kind":"train"' "$OUT/b/tiny_pretrain/metrics.jsonl" 2> /dev/null) || true
  (( ${n:-0} >= 5 )) && break
  sleep 0.2
done
(( ${n:-0} >= 5 && ${n:-0} < 40 )) || fail "could not cancel mid-run (at step ${n:-0})"
scancel "$job"; wait_job "$job"
grep -q "(SIGTERM)" "$OUT/$job.out" || fail "no SIGTERM checkpoint (see $OUT/$job.out)"
grep -q "Exited with exit code 143" "$OUT/$job.out" || fail "ranks did not exit 143"
# (3) resubmitted: resumes and ends equal to the uninterrupted run
job=$(submit "$OUT/b"); wait_job "$job"
grep -q "resumed from" "$OUT/$job.out" || fail "the resubmitted job did not resume"
[[ "$(losses "$OUT/b")" == "$(losses "$OUT/ref")" ]] || fail "resumed losses differ"
cmp -s "$OUT/b/tiny_pretrain/checkpoints/step_40/model.safetensors" \
       "$OUT/ref/tiny_pretrain/checkpoints/step_40/model.safetensors" || fail "resumed weights differ"
echo "slurm_local: OK (sbatch == local.sh bitwise; scancel at step $n -> SIGTERM checkpoint; resume bitwise); logs in $OUT"
