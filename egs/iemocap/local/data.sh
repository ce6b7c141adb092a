#!/usr/bin/env bash
# Prepare data/all from the IEMOCAP release.
# Usage: local/data.sh --iemocap_root DIR [--label_set 4class|4class_noexc|5class_exc|all]
#                      [--dialog_types impro,script|impro|script]
# The default 4-class set merges exc into hap: 5,531 utterances (1,103 ang, 1,636 hap,
# 1,708 neu, 1,084 sad) from 10 speakers.
set -euo pipefail
nj=1
iemocap_root=
label_set=4class
dialog_types=impro,script
. ../../tools/parse_options.sh || exit 1

if [ -z "${iemocap_root}" ] || [ ! -d "${iemocap_root}" ]; then
  echo "$0: IEMOCAP not found at '${iemocap_root}': give --iemocap_root or set IEMOCAP in db.sh" >&2
  exit 1
fi
serkit-prep-iemocap --root "${iemocap_root}" --out data/all --label_set "${label_set}" \
  --dialog_types "${dialog_types}"
