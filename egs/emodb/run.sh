#!/usr/bin/env bash
# EMO-DB (Berlin, German, 10 speakers, 7 emotions), speaker-independent LOSO-10: test = one
# speaker, valid = the next speaker (model selection only), train = the other eight.
# Only local/data.sh knows the corpus: for another corpus, replace it and keep the rest.
#
# Usage: ./run.sh [--corpus_root DIR] [options of ../TEMPLATE/ser.sh]   (or set EMODB in db.sh;
#        --emodb_root is the same option)
# Examples:
#   EMODB=/data/emodb ./run.sh --train_config conf/classical_svm.yaml --feats_conf conf/feats/mfcc_prosody.yaml
#   ./run.sh --stage 3 --train_config conf/train_resnet.yaml --feats_conf conf/feats/logmel64_sp.yaml --seeds 1,2,3
set -euo pipefail
run_cmd=./run.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md

. ./db.sh
corpus_root=${EMODB:-}
emodb_root=
parse_options_passthrough=true   # the options not declared here are ser.sh's
. ../../tools/parse_options.sh || exit 1
[ -z "${emodb_root}" ] || corpus_root=${emodb_root}
../TEMPLATE/ser.sh --run_cmd "${run_cmd}" \
  --protocol loso \
  --feats_conf conf/feats/mfcc_prosody.yaml \
  --train_config conf/classical_svm.yaml \
  "${passthrough_opts[@]}" \
  -- ${corpus_root:+"${corpus_root}"} "$@"   # after "--": local/data.sh's corpus root, spaces kept
