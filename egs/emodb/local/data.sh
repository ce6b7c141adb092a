#!/usr/bin/env bash
# Prepare data/all from the EMO-DB release (wav/03a01Fa.wav ...). The only corpus-specific
# file of this recipe: for another corpus, write a data/all with the same files here.
# Usage: local/data.sh [--nj J] CORPUS_ROOT
set -euo pipefail
nj=1
. ../../tools/parse_options.sh || exit 1
[ $# -eq 1 ] || { echo "Usage: $0 [--nj J] CORPUS_ROOT (or set EMODB in db.sh)" >&2; exit 1; }
serkit-prep-corpus --corpus emodb --root "$1" --out data/all
