#!/usr/bin/env bash
# Pretraining on real speech and its transfer to EMO-DB LOSO-10, in the layout of the FOP paper's
# Table 1: the FOP model (conf/pretrain_fop.yaml) fine-tuned on EMO-DB after pretraining on each
# set of --pretrain_sets, beside the same model from random init.
#   scratch             no pretraining (conf/train_fop_scratch.yaml)
#   emodb               FOP on EMO-DB itself, every speaker, no labels
#   speechocean762      FOP on 2 h of read English (local/speechocean762.sh)
#   both                FOP on the two together
#   speechocean762_ctc  the same model trained with CTC on speechocean762's transcripts
#                       (conf/pretrain_ctc.yaml), then fine-tuned the same way
# Usage: ./run_pretrain.sh [--stage N] [--nj J] [--seeds 1,2,3] [--fold_nj K] [--folds all|1,2]
#                          [--pretrain_sets "scratch speechocean762"] [--speechocean_root DIR]
#                          [--pretrain_opts "--train.max_epochs 5"]   (corpus roots: db.sh)
# Example: EMODB=/data/emodb SPEECHOCEAN762=/data/speechocean762 ./run_pretrain.sh --seeds 1,2,3
set -euo pipefail
. ./db.sh
stage=0
nj=2
seeds=1
fold_nj=1
folds=all
pretrain_sets="scratch emodb speechocean762 both speechocean762_ctc"
speechocean_root=${SPEECHOCEAN762:-}
pretrain_opts=
. ../../tools/parse_options.sh || exit 1
. ./path.sh

log() { echo "$(date '+%F %T') ($(basename "$0")) $*" >&2; }
run() { log "+ $*"; "$@"; }

feats=conf/feats/logmel64.yaml
if [ "${stage}" -le 0 ]; then
  run ./run.sh --stop_stage 1 --nj "${nj}" --feats_conf "${feats}"   # EMO-DB: data, folds, features
  if [ ! -f data/speechocean762/.done ]; then
    [ -n "${speechocean_root}" ] || { log "error: give --speechocean_root DIR or set SPEECHOCEAN762 in db.sh"; exit 1; }
    run local/speechocean762.sh "${speechocean_root}" data/speechocean762
    touch data/speechocean762/.done
  fi
fi
common=(--folds "${folds}" --feats_conf "${feats}" --seeds "${seeds}" --fold_nj "${fold_nj}" --nj "${nj}")
for set in ${pretrain_sets}; do
  pretrain_config=conf/pretrain_fop.yaml
  case "${set}" in
    scratch)
      run ./run.sh --stage 3 "${common[@]}" --train_config conf/train_fop_scratch.yaml
      continue ;;
    emodb) pretrain_data=data/all ;;
    speechocean762) pretrain_data=data/speechocean762 ;;
    both) pretrain_data="data/all data/speechocean762" ;;
    speechocean762_ctc) pretrain_data=data/speechocean762 pretrain_config=conf/pretrain_ctc.yaml ;;
    *) log "error: unknown pretraining set '${set}'; choose from scratch emodb speechocean762 both speechocean762_ctc"
       exit 1 ;;
  esac
  # stage 1 dumps the pretraining data (skipped where done), stage 2 pretrains, 3-4 fine-tune and score
  run ./run.sh --stage 1 "${common[@]}" --train_config conf/train_fop_finetune.yaml \
    --pretrain_config "${pretrain_config}" --pretrain_data "${pretrain_data}" \
    ${pretrain_opts:+--pretrain_opts "${pretrain_opts}"}
done
log "finished"
