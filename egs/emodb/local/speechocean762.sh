#!/usr/bin/env bash
# Unlabelled real speech for stage 2 pretraining: the speechocean762 subset (utterances.tsv:
# utt speaker gender age split path text) -> a data dir without emotion labels.
# Usage: local/speechocean762.sh ROOT OUT_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "Usage: $0 SPEECHOCEAN762_ROOT OUT_DIR" >&2; exit 1; }
serkit-prep-manifest --manifest "$1/utterances.tsv" --unlabelled --ignore_columns utt,age,split \
  --corpus speechocean762 --out "$2"
