#!/usr/bin/env bash
# Start a serkit training binary (train | pretrain) on one process, on the G GPUs of one machine
# (torchrun --standalone), or across K nodes (torchrun with a c10d rendezvous at the job's first
# node: under serkit-slurm --num_nodes K every node runs this script, and the dispatcher sets
# SERKIT_MASTER_ADDR and SERKIT_RDZV_ID). Only rank 0 writes the exp dir; a
# job that dies resumes from its last checkpoint when the stage is run again.
# Usage: ../TEMPLATE/launch.sh [--ngpu G] [--num_nodes K] train|pretrain [ARGS...]
# Example: ../TEMPLATE/launch.sh --ngpu 2 train --config conf/train.yaml ...
set -euo pipefail
ngpu=0
num_nodes=1
. ../../tools/parse_options.sh || exit 1
[ $# -ge 1 ] || { echo "usage: $0 [--ngpu G] [--num_nodes K] train|pretrain [ARGS...]" >&2; exit 1; }
binary=$1; shift
case "${binary}" in train|pretrain) ;; *) echo "$0: train or pretrain, not '${binary}'" >&2; exit 1 ;; esac
procs=$(( ngpu > 1 ? ngpu : 1 ))
if [ "${num_nodes}" -gt 1 ]; then
  [ -n "${SERKIT_MASTER_ADDR:-}" ] || { echo "$0: --num_nodes ${num_nodes} needs a multi-node dispatcher (serkit-slurm --num_nodes)" >&2; exit 1; }
  cmd=(torchrun --nnodes "${num_nodes}" --nproc_per_node "${procs}" --rdzv_backend c10d
       --rdzv_endpoint "${SERKIT_MASTER_ADDR}:${SERKIT_MASTER_PORT:-29400}" --rdzv_id "${SERKIT_RDZV_ID:-serkit}"
       -m "serkit.bin.${binary}")
elif [ "${procs}" -gt 1 ]; then
  cmd=(torchrun --standalone --nproc_per_node "${procs}" -m "serkit.bin.${binary}")
else
  cmd=("serkit-${binary}")
fi
echo "$(date '+%F %T') (launch.sh) + ${cmd[*]} $*" >&2
exec "${cmd[@]}" --ngpu "${ngpu}" "$@"
