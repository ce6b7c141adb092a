#!/usr/bin/env bash
# The FOP paper's Table 2 on EMO-DB LOSO-10: representations of a frozen pretrained stack
# (F = the log-mel input, h_1 ... h_L = each layer, h_add = E(F) + sum_l h_l, h_concat =
# [F, h_1, ..., h_L]) into an SVM, a random forest or a logistic regression on utterance
# functionals (conf/classical_{svm,rf,logreg}_pt.yaml; --speed_copies true trains the SVM and the
# logistic regression on the speed-perturbed copies too, conf/classical_{svm,logreg}_pt_sp.yaml,
# with a feature config that dumps them: conf/feats/logmel64_sp.yaml) and into the attention-LSTM
# (conf/train_fop_{frozen,hc}_alstm.yaml);
# and the MPC study's rows: a layer, or weighted = a learned softmax-weighted sum of the layers, of a
# frozen MPC stack into the BLSTM with a gender head (blstm: --blstm_config, the paper's 2 x 256
# conf/train_mpc_blstm.yaml or the CPU width conf/train_mpc_blstm_cpu.yaml).
# The stack is pretrained by stage 2 (skipped where ./run_pretrain.sh or an earlier call did it)
# with --pretrain_config on --pretrain_data. Every setting is chosen on the valid speaker of each
# fold (SVM C, A-LSTM epochs). The control without pretraining is the same stack at its random
# init: --pretrain_opts "--optim.lr 1e-12 --train.max_epochs 1" (one epoch whose updates move no
# weight by more than 1e-10).
# Usage: ./run_hypercolumns.sh [--pretrain_config conf/pretrain_fop.yaml] [--pretrain_data data/speechocean762]
#                              [--pretrain_opts "..."] [--classifiers "svm rf logreg alstm blstm"] [--speed_copies false]
#                              [--feats_conf conf/feats/logmel64.yaml] [--blstm_config conf/train_mpc_blstm.yaml]
#                              [--reps "F h1 h2 h3 h_add h_concat"] [--seeds 1] [--fold_nj 1] [--nj 2] [--folds all] [--ngpu 0]
# Example: ./run_hypercolumns.sh --classifiers "svm rf"     # the two classical columns, minutes on a CPU
#          ./run_hypercolumns.sh --classifiers svm --pretrain_opts "--seed 1"   # another pretraining seed
#          ./run_hypercolumns.sh --classifiers svm --feats_conf conf/feats/logmel64_sp.yaml \
#            --pretrain_config conf/pretrain_fop_sp.yaml   # pretraining on speed-perturbed copies
#          ./run_hypercolumns.sh --classifiers blstm --reps "F h1 h2 h3 weighted" \
#            --pretrain_config conf/pretrain_mpc.yaml         # the MPC study: each layer and the weighted sum
set -euo pipefail
pretrain_config=conf/pretrain_fop.yaml
pretrain_data=data/speechocean762
pretrain_opts=
feats_conf=conf/feats/logmel64.yaml
classifiers="svm rf alstm"
blstm_config=conf/train_mpc_blstm.yaml
speed_copies=false
reps=
seeds=1
fold_nj=1
nj=2
folds=all
ngpu=0
. ../../tools/parse_options.sh || exit 1
. ./path.sh

log() { echo "$(date '+%F %T') ($(basename "$0")) $*" >&2; }
run() { log "+ $*"; "$@"; }

common=(--feats_conf "${feats_conf}" --pretrain_config "${pretrain_config}" --pretrain_data "${pretrain_data}"
        ${pretrain_opts:+--pretrain_opts "${pretrain_opts}"} --seeds "${seeds}" --fold_nj "${fold_nj}" --nj "${nj}"
        --folds "${folds}" --ngpu "${ngpu}")
# the pretraining data's features (stage 1, skipped where dumped) and the pretraining (stage 2)
run ./run.sh --stage 1 --stop_stage 2 "${common[@]}" --train_config conf/classical_svm_pt.yaml
if [ -z "${reps}" ]; then   # F, every layer of the stack, and the two hypercolumns
  layers=$(python -m serkit.bin.query value "${pretrain_config}" model.encoder_conf.layers)
  reps="F $(for l in $(seq 1 "${layers}"); do printf 'h%s ' "${l}"; done)h_add h_concat"
fi
for clf in ${classifiers}; do
  for rep in ${reps}; do
    case "${clf}:${rep}" in
      svm:*|rf:*|logreg:*)
        config=conf/classical_${clf}_pt.yaml
        if [ "${speed_copies}" = true ]; then
          [ "${clf}" != rf ] || { log "error: --speed_copies true has no random-forest config"; exit 1; }
          config=conf/classical_${clf}_pt_sp.yaml
        fi
        case "${rep}" in
          F) opts="--representation.layer 0" ;;
          h[0-9]*) opts="--representation.layer ${rep#h}" ;;
          h_add|h_concat) opts="--representation.mode hypercolumns --representation.combine ${rep#h_}" ;;
          *) log "error: unknown representation '${rep}'"; exit 1 ;;
        esac ;;
      alstm:F|alstm:h[0-9]*|alstm:weighted|blstm:F|blstm:h[0-9]*|blstm:weighted)
        config=conf/train_fop_frozen_alstm.yaml
        [ "${clf}" = alstm ] || config=${blstm_config}
        l=${rep#h}; [ "${rep}" = F ] && l=0; [ "${rep}" = weighted ] && l=weighted
        opts="--model.encoder_conf.layer ${l}" ;;
      alstm:h_add|alstm:h_concat)
        config=conf/train_fop_hc_alstm.yaml
        opts="--model.encoder_conf.combine ${rep#h_}" ;;
      *) log "error: unknown classifier '${clf}' or representation '${rep}'; classifiers: svm rf logreg alstm blstm;"\
           "'weighted' (a learned weighted sum of the layers) goes with alstm and blstm only"; exit 1 ;;
    esac
    run ./run.sh --stage 3 "${common[@]}" --train_config "${config}" --train_opts "${opts}"
  done
done
log "finished"
