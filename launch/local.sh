#!/usr/bin/env bash
# Runs N ranks of an ibllm command on this machine without torchrun: sets the torchrun variables
# (RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE MASTER_ADDR=127.0.0.1 MASTER_PORT=<free port>),
# prefixes each rank's output with "[rank i]", forwards SIGINT/SIGTERM to every rank, and as soon
# as one rank fails stops the others and exits with that rank's status.
#
#   launch/local.sh N train configs/x.yaml [--set ...]   # runs ${IBLLM_BIN:-./build/ibllm} <args>
#   launch/local.sh N -- <any command and args>         # runs the command itself N times
#
# MASTER_PORT from the environment is kept if set. Needs bash >= 4.3 (wait -n) and GNU sed.
set -u

usage() { echo "usage: $0 N [--] <ibllm args | command...>" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
N=$1; shift
[[ $N =~ ^[0-9]+$ ]] && (( N >= 1 )) || { echo "local.sh: N must be a positive integer, got '$N'" >&2; exit 2; }
if [[ $1 == "--" ]]; then
  shift
  [[ $# -ge 1 ]] || usage
  cmd=("$@")
else
  cmd=("${IBLLM_BIN:-./build/ibllm}" "$@")
fi

free_port() {
  local py
  for py in python3 /usr/bin/python3 python; do
    if command -v "$py" > /dev/null 2>&1; then
      "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
        2> /dev/null && return
    fi
  done
  echo $(( 20000 + RANDOM % 30000 ))  # no Python: a random high port
}
PORT=${MASTER_PORT:-$(free_port)}

# Job control: every rank runs in its own process group, so one kill stops the rank's whole tree
# (command and its output filter), and a terminal's Ctrl-C reaches only this script.
set -m
pids=()
for (( i = 0; i < N; i++ )); do
  (
    # A trap (not an ignore, which the rank would inherit) keeps this subshell alive until its rank
    # has exited: without it a forwarded TERM ended the subshell at once, and this script returned
    # while the rank was still saving or reporting its error.
    trap ':' INT TERM
    export RANK=$i WORLD_SIZE=$N LOCAL_RANK=$i LOCAL_WORLD_SIZE=$N
    export MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT
    # The filter ignores INT/TERM so a rank's last words (e.g. "saved checkpoint") still get out.
    "${cmd[@]}" 2>&1 | (trap '' INT TERM; exec sed -u "s/^/[rank $i] /")
    exit "${PIPESTATUS[0]}"
  ) &
  pids+=($!)
done
set +m  # the groups stay; this only silences bash's job notices

stop_all() {  # $1: signal
  local p
  for p in "${pids[@]}"; do kill -"$1" -- "-$p" 2> /dev/null; done
  # Give the ranks 10 s to save and exit, then kill what is left.
  for (( t = 0; t < 100; t++ )); do
    [[ -z $(jobs -rp) ]] && return
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2> /dev/null; done
}

on_signal() {
  echo "local.sh: received SIG$1, forwarding to all ranks" >&2
  stop_all "$1"
  wait
  exit $(( 128 + $2 ))
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM

rank_of() {
  local i
  for i in "${!pids[@]}"; do [[ ${pids[$i]} == "$1" ]] && { echo "$i"; return; }; done
  echo "?"
}

active=("${pids[@]}")
remaining=$N
while (( remaining > 0 )); do
  finished=""
  if (( BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1) )); then
    wait -n -p finished "${active[@]}"
  else
    wait -n
  fi
  rc=$?
  if [[ -n $finished ]]; then
    next=()
    for p in "${active[@]}"; do [[ $p == "$finished" ]] || next+=("$p"); done
    active=("${next[@]}")
  fi
  remaining=$(( remaining - 1 ))
  if (( rc != 0 )); then
    rank="?"
    [[ -n $finished ]] && rank=$(rank_of "$finished")
    echo "local.sh: rank $rank exited with status $rc; stopping the other ranks" >&2
    stop_all TERM
    wait 2> /dev/null
    exit "$rc"
  fi
done
exit 0
