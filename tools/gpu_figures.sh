#!/usr/bin/env bash
# The figures that only a GPU gives, in one run of under 10 minutes on one GPU, most telling first,
# each step under a time limit of its own so that a slow step cannot eat the others' time:
#   1. the CUDA tests: features and the recognizer on the GPU give the CPU's numbers, and the
#      wav2vec2 encoder's training step never waits for the GPU;
#   2. wav2vec2-base + emotion and CTC heads, training throughput in bf16 with PyTorch's fused
#      attention at growing batches of 8 s waves: steps/s, audio seconds/s, model FLOPs utilisation,
#      the positional convolution as cuDNN's grouped convolution and by FFT (what serkit runs on a
#      GPU); at batch 64 also where a step's time goes (the top ops of a profile);
#   3. stage 1 on the GPU (batched log-mel / MFCC) beside one CPU core (tools/benchmark.py feats),
#      with a profile of the GPU calls;
#   4. wav2vec2 with torch.compile (inductor) at batch 64;
#   5. the mini_emo recipe trained on one GPU (--ngpu 1, 5 folds at once, features dumped on the
#      GPU, exp/gpu_figures): the share of each fold's epoch spent waiting for data, and WA / UA.
# DDP scaling needs 2 or more GPUs and a recipe's training (README, "Running on a cluster").
# Everything is logged to OUT/gpu_figures.log; the exit status is the number of failed steps.
#
# Usage: tools/gpu_figures.sh [--out DIR] [--data DATA_DIR] [--python PY]
#   --data: a data dir whose wav.scp lists audio for step 3 (default: a mini_emo corpus
#           synthesized under OUT, which needs eSpeak NG, i.e. serkit's own requirements)
# Example: tools/gpu_figures.sh --out exp/gpu_figures --data egs/emodb/data/all
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=exp/gpu_figures
data=
python=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "$0: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "${VIRTUAL_ENV:-}" ] || [ ! -f "${root}/tools/venv/bin/activate" ] || . "${root}/tools/activate.sh"
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}" PYTHONUNBUFFERED=1
mkdir -p "${out}" && out=$(cd "${out}" && pwd) || exit 2
log=${out}/gpu_figures.log
gpus=$("${python}" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null) || gpus=
if [ -z "${gpus}" ] || [ "${gpus}" -lt 1 ]; then
  echo "$0: error: ${python} sees no CUDA device (torch.cuda.device_count() is ${gpus:-unknown}); these figures need one" >&2
  exit 2
fi

failed=0
step() {  # step NAME SECONDS CMD...: runs CMD under a time limit, logs it, counts a failure
  local name=$1 limit=$2; shift 2
  echo "== ${name} (limit ${limit} s): $*" | tee -a "${log}"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=10 "${limit}" "$@" 2>&1 | tee -a "${log}"
  local rc=${PIPESTATUS[0]}
  echo "== ${name}: rc ${rc}, $((SECONDS - t0)) s" | tee -a "${log}"
  [ "${rc}" -eq 0 ] || failed=$((failed + 1))
}

{ date -u '+%F %T UTC'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
  "${python}" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "${log}"

cd "${root}" || exit 2
step "cuda tests" 150 "${python}" -m pytest -q -p no:cacheprovider -k cuda tests/features/test_extract.py \
  tests/test_recognizer.py tests/models/test_wav2vec2.py
w2v2=("${python}" tools/benchmark.py w2v2 --size base --device cuda --seconds 8 --steps 10 --pos_conv conv,fft)
for batch in 16 32 64 128; do
  opts=(); [ "${batch}" -ne 64 ] || opts=(--profile 25)
  step "wav2vec2-base, bf16, batch ${batch}" 90 "${w2v2[@]}" --batch "${batch}" "${opts[@]}"
done

if [ -z "${data}" ]; then
  data=${out}/mini/data/all
  [ -f "${data}/wav.scp" ] || step "mini_emo corpus for the feature benchmark" 120 "${python}" -c "
from serkit.corpora.iemocap import prepare_iemocap
from serkit.corpora.mini_emo import synthesize
synthesize('${out}/mini/db', seed=3, num_sessions=5)
prepare_iemocap('${out}/mini/db', '${data}')"
fi
step "features: GPU beside one CPU core" 150 "${python}" tools/benchmark.py feats --data "${data}" --seconds 300 \
  --repeat 3 --device cuda --profile 10
step "wav2vec2-base, bf16, batch 64, torch.compile" 150 "${w2v2[@]}" --pos_conv fft --batch 64 --compile inductor
step "mini_emo on one GPU" 150 bash -c 'cd egs/mini_emo && ./run.sh --ngpu 1 --dump_device cuda --fold_nj 5 \
  --nj 8 --tag gpu_figures && for f in $(find exp/gpu_figures -name train.log | sort); do
  echo "${f}: $(grep "waiting for data" "${f}" | tail -1)"; done'
echo "== ${failed} step(s) failed; log: ${log}" | tee -a "${log}"
exit "${failed}"
