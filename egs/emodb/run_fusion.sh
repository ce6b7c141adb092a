#!/usr/bin/env bash
# Every system of this recipe's RESULTS.md, then their late fusion (class posteriors averaged
# fold by fold; equal weights, and weights chosen on each fold's valid speaker): four
# functionals systems (SVM and logistic regression on mfcc_prosody and on logmel64) and the
# ResNet (its seeds fused first, so it counts as one member). The ResNet is trained without
# augmentation by default: on the valid speakers augmentation did not help it (RESULTS.md).
# The functionals systems train on the speed copies of their training utterances too
# (--speed_copies all, the default: conf/classical_<clf>_sp.yaml), chosen on the valid speakers
# (RESULTS.md); none trains them without, and choose trains both and lets each fold's valid
# speaker pick one of the two for that fold (serkit-fuse --weights valid --grid 1).
# --frozen_stack true adds a sixth member: the logistic regression on utterance functionals of
# layer h1 of a frozen FOP stack pretrained on --pretrain_data (speechocean762 by default, prepared
# first, at any --stage, from --speechocean_root or SPEECHOCEAN762 in db.sh), stack and classifier both on
# speed copies (conf/pretrain_fop_sp.yaml, conf/classical_logreg_pt_sp.yaml; chosen on the valid
# speakers, RESULTS.md). The pretraining adds 5-25 min on 2 CPU cores. Another stack (another
# --pretrain_data or --pretrain_opts, e.g. "--seed 1") gets fusions of its own name.
# --blstm true adds a seventh member: the BLSTM with augmentation on mfcc_prosody
# (conf/train_blstm.yaml, --seeds fused; about 21 min a seed on 2 CPU cores), which the valid
# speakers prefer (RESULTS.md); its fusions' names end in _blstm.
# Usage: ./run_fusion.sh [--stage N] [--nj J] [--seeds 1,2,3] [--fold_nj K] [--folds all|1,2]
#                        [--resnet_config conf/train_resnet.yaml] [--resnet_opts "--train.max_epochs 5"]
#                        [--speed_copies all|none|choose] [--frozen_stack false|true]
#                        [--pretrain_data data/speechocean762] [--pretrain_opts "..."] [--speechocean_root DIR]
#                        [--blstm false|true] [--blstm_config conf/train_blstm.yaml] [--blstm_opts "..."]
#                        (corpus roots: EMODB and SPEECHOCEAN762 in db.sh)
# Example: EMODB=/data/emodb ./run_fusion.sh --seeds 1,2,3
set -euo pipefail
run_cmd=./run_fusion.sh; [ $# -eq 0 ] || run_cmd+=$(printf ' %q' "$@")  # for RESULTS.md
. ./db.sh
stage=0
nj=2
seeds=1,2,3
fold_nj=1
folds=all
resnet_config=conf/train_resnet_noaug.yaml
resnet_opts=
speed_copies=all
frozen_stack=false
pretrain_data=data/speechocean762
pretrain_opts=
speechocean_root=${SPEECHOCEAN762:-}
blstm=false
blstm_config=conf/train_blstm.yaml
blstm_opts=
. ../../tools/parse_options.sh || exit 1
. ./path.sh

log() { echo "$(date '+%F %T') ($(basename "$0")) $*" >&2; }
run() { log "+ $*"; "$@"; }

case "${speed_copies}" in
  choose|none|all) ;;
  *) log "error: --speed_copies is '${speed_copies}'; choose from choose, none, all"; exit 1 ;;
esac
fold_names=()
[ "${folds}" = all ] || fold_names=(--folds "$(echo "fold${folds}" | sed 's/,/,fold/g')")
if [ "${frozen_stack}" = true ] && [ "${pretrain_data}" = data/speechocean762 ] \
   && [ ! -f data/speechocean762/.done ]; then   # the default stack's unlabelled speech, first
  [ -n "${speechocean_root}" ] || { log "error: --frozen_stack true needs data/speechocean762: give --speechocean_root DIR or set SPEECHOCEAN762 in db.sh"; exit 1; }
  run local/speechocean762.sh "${speechocean_root}" data/speechocean762
  touch data/speechocean762/.done
fi
# stages 0-1 once per feature set (both with speed copies; the originals are the plain
# features), then stages 3-4 of each system (finished folds are skipped)
if [ "${stage}" -le 1 ]; then
  run ./run.sh --stop_stage 1 --nj "${nj}" --feats_conf conf/feats/mfcc_prosody_sp.yaml
  run ./run.sh --stage 1 --stop_stage 1 --nj "${nj}" --feats_conf conf/feats/logmel64_sp.yaml
fi
members=()
for feats in mfcc_prosody_sp logmel64_sp; do   # functionals of two feature sets, two classifiers each
  for clf in svm logreg; do
    case "${speed_copies}" in none) variants=${clf} ;; all) variants=${clf}_sp ;; *) variants="${clf} ${clf}_sp" ;; esac
    for config in ${variants}; do
      run ./run.sh --stage 3 --folds "${folds}" --feats_conf "conf/feats/${feats}.yaml" \
        --train_config "conf/classical_${config}.yaml"
    done
    if [ "${speed_copies}" = choose ]; then   # per fold, the variant with the higher valid UA
      chosen=exp/classical_${clf}_${feats}_loso_speed_chosen
      run serkit-fuse --exp_dir "exp/classical_${clf}_${feats}_loso" --exp_dir "exp/classical_${clf}_sp_${feats}_loso" \
        --folds_dir data/folds/loso --out_dir "${chosen}" --weights valid --grid 1 "${fold_names[@]}"
      run serkit-score --exp_dir "${chosen}" --folds_dir data/folds/loso --results_md RESULTS.md "${fold_names[@]}" \
        --note "command: ${run_cmd}" --note "per fold, conf/classical_${clf}.yaml or conf/classical_${clf}_sp.yaml on ${feats}, whichever scored the higher UA on the fold's valid speaker (${chosen}/fusion.yaml)"
      members+=(--exp_dir "${chosen}")
    else
      members+=(--exp_dir "exp/classical_${variants}_${feats}_loso")
    fi
  done
done
network_member() {  # network_member CONFIG FEATS OPTS: stage 3 over --seeds, then the member (the seeds fused)
  local config=$1 feats=$2 opts=$3 tag
  tag=$(basename "${config}" .yaml)_${feats}_loso
  [ -z "${opts}" ] || tag+=$(echo "${opts}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')   # as run.sh names it
  run ./run.sh --stage 3 --folds "${folds}" --feats_conf "conf/feats/${feats}.yaml" --train_config "${config}" \
    --seeds "${seeds}" --fold_nj "${fold_nj}" ${opts:+--train_opts "${opts}"}
  if [ "${seeds}" = "${seeds//,/}" ]; then   # one seed
    members+=(--exp_dir "exp/${tag}_seed${seeds}")
  else
    members+=(--exp_dir "exp/${tag}_seeds_fused")
  fi
}
network_member "${resnet_config}" logmel64_sp "${resnet_opts}"
if [ "${frozen_stack}" = true ]; then   # pretraining (stage 2, skipped where done), then the member
  run ./run_hypercolumns.sh --classifiers logreg --speed_copies true --reps h1 --folds "${folds}" --nj "${nj}" \
    --feats_conf conf/feats/logmel64_sp.yaml --pretrain_config conf/pretrain_fop_sp.yaml --pretrain_data "${pretrain_data}" \
    ${pretrain_opts:+--pretrain_opts "${pretrain_opts}"}
  on_data=_on$(for d in ${pretrain_data}; do printf '_%s' "$(basename "${d}")"; done)
  opts_tag=; [ -z "${pretrain_opts}" ] || opts_tag=$(echo "${pretrain_opts}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')   # as ser.sh
  stack_tag=pretrain_fop_sp_logmel64_sp; [ "${pretrain_data}" = data/all ] || stack_tag+=${on_data}
  members+=(--exp_dir "exp/classical_logreg_pt_sp_logmel64_sp_loso_representation.layer1_pt_${stack_tag}${opts_tag}_seed1")
fi
[ "${blstm}" = false ] || network_member "${blstm_config}" mfcc_prosody_sp "${blstm_opts}"
suffix=; [ "${speed_copies}" = none ] || suffix=_speed_${speed_copies}
if [ "${frozen_stack}" = true ]; then   # another stack (data, pretraining seed) is another fusion
  suffix+=_frozen_stack; [ "${pretrain_data}" = data/speechocean762 ] || suffix+=${on_data}
  suffix+=${opts_tag}
fi
[ "${blstm}" = false ] || suffix+=_blstm
for weights in equal valid; do
  out=exp/fusion_${weights}_seeds${seeds//,/}${suffix}
  opts=()
  [ "${weights}" = equal ] || opts=(--weights valid)
  run serkit-fuse "${members[@]}" --folds_dir data/folds/loso --out_dir "${out}" "${opts[@]}" "${fold_names[@]}"
  run serkit-score --exp_dir "${out}" --folds_dir data/folds/loso --results_md RESULTS.md "${fold_names[@]}" \
    --title "$(basename "${out}")" --note "command: ${run_cmd}" \
    --note "members: SVM and logistic regression on functionals of mfcc_prosody and of logmel64 (speed copies: ${speed_copies}), ResNet $(basename "${resnet_config}" .yaml) (seeds ${seeds} fused)$([ "${frozen_stack}" = false ] || echo ", logistic regression on h1 of a frozen FOP stack (${pretrain_data}${pretrain_opts:+; pretrained with ${pretrain_opts}})")$([ "${blstm}" = false ] || echo ", BLSTM $(basename "${blstm_config}" .yaml) on mfcc_prosody (seeds ${seeds} fused)"); weights: ${weights} (${out}/fusion.yaml)"
done
log "finished"
