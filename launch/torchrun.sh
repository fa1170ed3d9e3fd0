#!/usr/bin/env bash
# Launches `ibllm train <config> [--set ...]` under torchrun: one process per GPU, the rendezvous
# and the RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE/MASTER_ADDR/MASTER_PORT variables come from
# torchrun (ibllm reads them; no Python runs in the ranks, hence --no-python).
#
#   launch/torchrun.sh configs/x.yaml [--set a.b=c ...]          # 1 node, NPROC (8) GPUs
#   launch/torchrun.sh bench configs/x.yaml                       # another command (train|bench|eval)
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 launch/torchrun.sh x.yaml   # on node0
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 launch/torchrun.sh x.yaml   # on node1
#
# Environment: NPROC (GPUs per node, 8), NNODES (1), NODE_RANK (0), MASTER_ADDR / MASTER_PORT
# (rendezvous host and port for several nodes; 29500), IBLLM_BIN (./build/ibllm), TORCHRUN
# (torchrun; may be a command with arguments, e.g. "python3 -m torch.distributed.run"),
# TORCHRUN_ARGS (extra torchrun flags; Debian 12's torchrun 1.13 on Python 3.11 crashes in
# Std.from_str unless given "--redirects 1 --tee 1").
# Flags are spelled with underscores, which torchrun accepts from 1.13 on. OMP_NUM_THREADS defaults to 4 per rank (torchrun would otherwise force 1).
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 [train|bench|eval] <config.yaml> [ibllm args...]" >&2; exit 2; }
CMD=train
case "$1" in train|bench|eval) CMD=$1; shift ;; esac
[[ $# -ge 1 ]] || { echo "usage: $0 [train|bench|eval] <config.yaml> [ibllm args...]" >&2; exit 2; }
NPROC=${NPROC:-8}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
IBLLM_BIN=${IBLLM_BIN:-./build/ibllm}
TORCHRUN=${TORCHRUN:-torchrun}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

read -r -a trun <<< "$TORCHRUN"
read -r -a extra <<< "${TORCHRUN_ARGS:-}"
command -v "${trun[0]}" > /dev/null || { echo "torchrun.sh: '${trun[0]}' not found (pip install torch, or use launch/local.sh)" >&2; exit 2; }
[[ -x $IBLLM_BIN ]] || { echo "torchrun.sh: $IBLLM_BIN is not built (cmake --build build)" >&2; exit 2; }

if (( NNODES == 1 )); then
  rdzv=(--standalone)
else
  [[ -n ${MASTER_ADDR:-} ]] || { echo "torchrun.sh: set MASTER_ADDR to node 0's host name for NNODES=$NNODES" >&2; exit 2; }
  rdzv=(--rdzv_backend=c10d "--rdzv_endpoint=${MASTER_ADDR}:${MASTER_PORT:-29500}"
        "--rdzv_id=${RDZV_ID:-ibllm}" "--node_rank=${NODE_RANK}")
fi

exec "${trun[@]}" --no_python --nnodes="$NNODES" --nproc_per_node="$NPROC" "${rdzv[@]}" \
  ${extra[@]+"${extra[@]}"} "$IBLLM_BIN" "$CMD" "$@"
