#!/usr/bin/env bash
# IEMOCAP: 4-class SER (ang, hap+exc, neu, sad; 5,531 utterances, 10 speakers) with the
# systems of the papers it reproduces (docs/papers.md), on every published protocol.
#
# Usage: ./run.sh --iemocap_root /path/IEMOCAP_full_release [--protocol loso] [options of ../TEMPLATE/ser.sh]
#        ./run.sh --help
# Examples:
#   ./run.sh --iemocap_root /data/IEMOCAP_full_release
#   ./run.sh --stage 3 --train_config conf/tuning/train_blstm2l_gender.yaml
#   ./run.sh --stage 3 --train_config conf/tuning/train_blstm2l_gender.yaml \
#       --sweep_key model.heads.gender.weight --sweep_values 0,1e-3,1e-2,1e-1,1,10,100,1000,5000
set -euo pipefail
run_cmd=./run.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md

# Corpus location: --iemocap_root, else IEMOCAP in db.sh. Data-prep options go to local/data.sh.
. ./db.sh
iemocap_root=${IEMOCAP:-}
label_set=4class
dialog_types=impro,script
parse_options_passthrough=true   # the options not declared here are ser.sh's
. ../../tools/parse_options.sh || exit 1

../TEMPLATE/ser.sh --run_cmd "${run_cmd}" \
  --protocol loso \
  --feats_conf conf/feats/mfcc.yaml \
  --train_config conf/tuning/train_blstm2l_gender.yaml \
  "${passthrough_opts[@]}" \
  -- --iemocap_root "${iemocap_root}" --label_set "${label_set}" --dialog_types "${dialog_types}"   # after "--": local/data.sh's, spaces kept
