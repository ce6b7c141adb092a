#!/usr/bin/env bash
# mini_emo: the whole pipeline on a small corpus that the recipe synthesizes itself with
# eSpeak NG (IEMOCAP release layout, 10 speakers in 5 sessions, 4 emotions). Finishes in a
# few minutes on 2 CPU cores; used by CI and as the first-run demo.
#
# Usage: ./run.sh [--stage N] [--stop_stage M] [--nj J] [--ngpu G] [--train_config FILE] ...
#        ./run.sh --help   lists every option
# Example: ./run.sh --stage 3 --train_config conf/train_blstm.yaml
set -euo pipefail
run_cmd=./run.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md

../TEMPLATE/ser.sh --run_cmd "${run_cmd}" \
  --protocol loso_session \
  --feats_conf conf/feats/mfcc.yaml \
  --train_config conf/train_blstm_gender.yaml \
  "$@"
