#!/usr/bin/env bash
# The FOP paper's Table 2 on EMO-DB LOSO-10: representations of a frozen pretrained stack
# (F = the log-mel input, h_1 ... h_L = each layer, h_add = E(F) + sum_l h_l, h_concat =
# [F, h_1, ..., h_L]) into an SVM and a random forest on utterance functionals
# (conf/classical_{svm,rf}_pt.yaml) and into the attention-LSTM (conf/train_fop_{frozen,hc}_alstm.yaml).
# The stack is the one ./run_pretrain.sh pretrained (stage 2): give the same --pretrain_config and
# --pretrain_data. Every setting is chosen on the valid speaker of each fold (SVM C, A-LSTM epochs).
# Usage: ./run_hypercolumns.sh [--pretrain_config conf/pretrain_fop.yaml] [--pretrain_data data/speechocean762]
#                              [--classifiers "svm rf alstm"] [--reps "F h1 h2 h3 h_add h_concat"]
#                              [--seeds 1] [--fold_nj 1] [--nj 2] [--folds all]
# Example: ./run_hypercolumns.sh --classifiers "svm rf"     # the two classical columns, minutes on a CPU
set -euo pipefail
pretrain_config=conf/pretrain_fop.yaml
pretrain_data=data/speechocean762
classifiers="svm rf alstm"
reps=
seeds=1
fold_nj=1
nj=2
folds=all
. ../../tools/parse_options.sh || exit 1
. ./path.sh

log() { echo "$(date '+%F %T') ($(basename "$0")) $*" >&2; }
run() { log "+ $*"; "$@"; }

feats=conf/feats/logmel64.yaml
ckpt=exp/pretrain/$(basename "${pretrain_config%.*}")_$(basename "${feats%.*}")
[ "${pretrain_data}" = data/all ] || ckpt+=_on$(for d in ${pretrain_data}; do printf '_%s' "$(basename "${d}")"; done)
ckpt+=/checkpoints/best.pt
[ -f "${ckpt}" ] || { log "error: ${ckpt} not found: pretrain it first (./run_pretrain.sh)"; exit 1; }
if [ -z "${reps}" ]; then   # F, every layer of the stack, and the two hypercolumns
  layers=$(python -m serkit.bin.query value "${pretrain_config}" model.encoder_conf.layers)
  reps="F $(for l in $(seq 1 "${layers}"); do printf 'h%s ' "${l}"; done)h_add h_concat"
fi
common=(--stage 3 --feats_conf "${feats}" --pretrain_config "${pretrain_config}" --pretrain_data "${pretrain_data}"
        --seeds "${seeds}" --fold_nj "${fold_nj}" --nj "${nj}" --folds "${folds}")
for clf in ${classifiers}; do
  for rep in ${reps}; do
    case "${clf}:${rep}" in
      svm:*|rf:*)
        config=conf/classical_${clf}_pt.yaml
        case "${rep}" in
          F) opts="--representation.layer 0" ;;
          h[0-9]*) opts="--representation.layer ${rep#h}" ;;
          h_add|h_concat) opts="--representation.mode hypercolumns --representation.combine ${rep#h_}" ;;
          *) log "error: unknown representation '${rep}'"; exit 1 ;;
        esac ;;
      alstm:F|alstm:h[0-9]*)
        config=conf/train_fop_frozen_alstm.yaml
        l=${rep#h}; [ "${rep}" = F ] && l=0
        opts="--model.encoder_conf.layer ${l}" ;;
      alstm:h_add|alstm:h_concat)
        config=conf/train_fop_hc_alstm.yaml
        opts="--model.encoder_conf.combine ${rep#h_}" ;;
      *) log "error: unknown classifier '${clf}' or representation '${rep}'; classifiers: svm rf alstm"; exit 1 ;;
    esac
    run ./run.sh "${common[@]}" --train_config "${config}" --train_opts "${opts}"
  done
done
log "finished"
