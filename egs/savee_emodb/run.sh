#!/usr/bin/env bash
# SAVEE + EMO-DB: CNN-BLSTM with multi-head self-attention and local attention pooling, a
# speaker auxiliary head (L = g L_emotion + t L_speaker), and cross-language training
# (EMO-DB added to every SAVEE training fold, relabelled to SAVEE's names, boredom dropped).
#
# Usage: ./run.sh [--savee_root DIR] [--emodb_root DIR] [--corpus savee|emodb] [--cross_language true]
#                 [options of ../TEMPLATE/ser.sh]
# Examples (the paper's four rows, then EMO-DB alone):
#   ./run.sh --savee_root /data/SAVEE --emodb_root /data/emodb --train_config conf/train_cnn_blstm_att.yaml
#   ./run.sh --stage 3 --train_config conf/train_cnn_blstm_att_spk.yaml
#   ./run.sh --stage 0 --train_config conf/train_cnn_blstm_att.yaml --cross_language true
#   ./run.sh --stage 0 --train_config conf/train_cnn_blstm_att_spk.yaml --cross_language true
#   ./run.sh --emodb_root /data/emodb --corpus emodb --train_config conf/train_cnn_blstm_att.yaml
set -euo pipefail
run_cmd=./run.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md

. ./db.sh
savee_root=${SAVEE:-}
emodb_root=${EMODB:-}
corpus=savee
cross_language=false
parse_options_passthrough=true   # the options not declared here are ser.sh's
. ../../tools/parse_options.sh || exit 1
case "${corpus}" in
  savee|emodb) ;;
  *) echo "$0: --corpus takes savee or emodb, got '${corpus}'" >&2; exit 1 ;;
esac
extra=()
if [ "${cross_language}" = true ]; then
  [ "${corpus}" = savee ] || { echo "$0: cross-language training adds EMO-DB to SAVEE folds: use --corpus savee" >&2; exit 1; }
  extra=(--extra_train data/emodb --extra_label_map conf/emodb_to_savee.map)
fi

../TEMPLATE/ser.sh --run_cmd "${run_cmd}" \
  --protocol loso \
  --fold_data "data/${corpus}" \
  --feats_conf conf/feats/mel_fu.yaml \
  --train_config conf/train_cnn_blstm_att_spk.yaml \
  "${extra[@]}" \
  "${passthrough_opts[@]}" \
  -- --savee_root "${savee_root}" --emodb_root "${emodb_root}"   # after "--": local/data.sh's, spaces kept
