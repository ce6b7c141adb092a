#!/usr/bin/env bash
# One job of stage 3: train one fold of one run (a seed, a swept value), then decode its valid
# and test sets and mark the fold done. ser.sh runs one job per fold through the recipe's
# dispatcher (cmd.sh), so the same script runs locally and on a cluster.
# Usage: ../TEMPLATE/train_fold.sh [options] EXP/FOLD
#   EXP/FOLD is the fold's exp dir (exp/blstm_seed1/fold3); EXP/run_opts, where present, holds
#   the run's own options (e.g. "--seed 1"), added after --train_opts.
# Example: ../TEMPLATE/train_fold.sh --train_config conf/train_blstm.yaml --folds_dir data/folds/loso \
#            --feats dump/mfcc/all/feats.scp --cmvn_root dump/mfcc/loso exp/blstm_mfcc_loso/fold1
set -euo pipefail
train_config=
classical=0
ngpu=0
num_nodes=1
folds_dir=
feats=
cmvn_root=
vector_cache=     # classical runs: utterance vectors kept here for the other folds
train_opts=
. ../../tools/parse_options.sh || exit 1
[ $# -eq 1 ] || { echo "usage: $0 [options] EXP/FOLD" >&2; exit 1; }
fold_exp=$1
fold=$(basename "${fold_exp}")
run_exp=$(dirname "${fold_exp}")
run_opts=
[ ! -f "${run_exp}/run_opts" ] || run_opts=$(cat "${run_exp}/run_opts")
log() { echo "$(date '+%F %T') (train_fold.sh) $*" >&2; }
run() { log "+ $*"; "$@"; }
data=${folds_dir}/${fold}
common=(--feats "${feats}" --cmvn_dir "${cmvn_root}/${fold}")
decode=(--data "${data}/valid" --name valid --data "${data}/test" --name test)

if [ "${classical}" = 1 ]; then   # fits and predicts in one go
  # shellcheck disable=SC2086
  run serkit-train-classical --config "${train_config}" --train_data "${data}/train" \
    --valid_data "${data}/valid" "${common[@]}" --exp_dir "${fold_exp}" "${decode[@]}" \
    ${vector_cache:+--vector_cache "${vector_cache}"} ${train_opts} ${run_opts}
else
  # shellcheck disable=SC2086
  run ../TEMPLATE/launch.sh --ngpu "${ngpu}" --num_nodes "${num_nodes}" train --config "${train_config}" \
    --train_data "${data}/train" --valid_data "${data}/valid" "${common[@]}" --exp_dir "${fold_exp}" \
    ${train_opts} ${run_opts}
  # every node of a multi-node job trains; the first alone decodes and marks the fold done
  [ "${SLURM_NODEID:-0}" = 0 ] || exit 0
  run serkit-decode --exp_dir "${fold_exp}" "${common[@]}" "${decode[@]}"
fi
touch "${fold_exp}/.done"
