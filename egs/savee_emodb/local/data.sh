#!/usr/bin/env bash
# Prepare data/savee and data/emodb (whichever roots are given) and data/all = their union.
# Usage: local/data.sh [--savee_root DIR] [--emodb_root DIR]
set -euo pipefail
nj=1
savee_root=
emodb_root=
. ../../tools/parse_options.sh || exit 1

parts=()
if [ -n "${savee_root}" ]; then
  serkit-prep-corpus --corpus savee --root "${savee_root}" --out data/savee
  parts+=(data/savee)
fi
if [ -n "${emodb_root}" ]; then
  serkit-prep-corpus --corpus emodb --root "${emodb_root}" --out data/emodb
  parts+=(data/emodb)
fi
if [ ${#parts[@]} -eq 0 ]; then
  echo "$0: give --savee_root and/or --emodb_root (or set SAVEE / EMODB in db.sh)" >&2
  exit 1
fi
serkit-combine-data data/all "${parts[@]}"
