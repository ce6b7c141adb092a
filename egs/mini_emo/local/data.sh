#!/usr/bin/env bash
# Synthesize the mini_emo corpus (IEMOCAP release layout) and prepare data/all with the real
# IEMOCAP prep code.
# Usage: local/data.sh [--nj J] [--db db/mini_emo] [--seed 0] [--scale 1]
set -euo pipefail
nj=1
db=db/mini_emo
seed=0
scale=1
. ../../tools/parse_options.sh || exit 1

serkit-synth-mini-emo --out "${db}" --seed "${seed}" --scale "${scale}" --nj "${nj}"
serkit-prep-iemocap --root "${db}" --out data/all --label_set 4class
