#!/usr/bin/env bash
# EMO-DB (Berlin, German, 10 speakers, 7 emotions), speaker-independent LOSO-10: test = one
# speaker, valid = the next speaker (model selection only), train = the other eight.
# Only local/data.sh knows the corpus: for another corpus, replace it and keep the rest.
#
# Usage: ./run.sh [options of ../TEMPLATE/ser.sh]    (corpus root: EMODB in db.sh or the environment)
# Examples:
#   EMODB=/data/emodb ./run.sh --train_config conf/classical_svm.yaml --feats_conf conf/feats/mfcc_prosody.yaml
#   ./run.sh --stage 3 --train_config conf/train_cnn.yaml --feats_conf conf/feats/logmel64.yaml --seeds 1,2,3
set -euo pipefail
run_cmd=./run.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md

. ./db.sh
../TEMPLATE/ser.sh --run_cmd "${run_cmd}" \
  --protocol loso \
  --feats_conf conf/feats/mfcc_prosody.yaml \
  --train_config conf/classical_svm.yaml \
  "$@" ${EMODB:+"${EMODB}"}
