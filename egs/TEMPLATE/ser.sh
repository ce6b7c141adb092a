#!/usr/bin/env bash
# Stages shared by every serkit recipe; a recipe's run.sh sets its defaults and calls this.
# Stage 0 runs the recipe's local/data.sh (corpus-specific), everything else is generic.
set -euo pipefail

help_message=$(cat <<'HELP'
Usage: ./run.sh [options]
  --stage N --stop_stage M   run stages N..M (default 0..4)
                               0 data prep + folds  1 features + CMVN  2 self-supervised pretraining
                               3 train + decode per fold  4 score -> RESULTS.md
  --nj J                     parallel jobs for data prep and feature dump (default 2)
  --dump_device D            where stage 1 computes log-mel / MFCC: cpu (default) or cuda (batched
                               on a GPU, the same numbers to 1e-4; its shard jobs go to cuda_cmd)
  --ngpu G                   GPUs per training run; G > 1 launches torchrun (default 0: CPU)
  --num_nodes K              nodes per training run (multi-node torchrun; needs a cluster
                               dispatcher in cmd.sh, e.g. SERKIT_CMD=slurm)
  --fold_nj K                stage 3 runs K fold jobs at once (default 1), each logging to
                               exp/<tag>/<fold>.log; small models on one GPU (--ngpu 1) gain most
  Jobs (dump shards, folds, pretraining) go through cmd.sh's train_cmd (CPU) or cuda_cmd (GPU):
  serkit-run on this machine, serkit-slurm on a cluster (SERKIT_CMD=slurm).
  --protocol P               loso | loso_session | random | first2spk
  --fold_data DIR            data dir the folds are made of (default data/all)
  --extra_train DIR          data dir added to every fold's training set (e.g. another corpus) ...
  --extra_label_map FILE     ... relabelled through this map ("source target" lines, "-" drops)
  --folds LIST               comma list of fold numbers to train, or "all" (default all)
  --feats_conf FILE          feature config (default conf/feats/mfcc.yaml)
  --train_config FILE        training config (default set by the recipe)
  --tag NAME                 experiment name under exp/ (default: <train config>_<feats>_<protocol><train_opts>)
  --data_opts "..."          extra options for local/data.sh, split at spaces (values without spaces)
  -- ARGS...                 everything after "--" goes to local/data.sh as separate arguments,
                               quoted as given: corpus roots with spaces go here
                               (e.g. -- --emodb_root "/data/emo db")
  --train_opts "..."         extra options for serkit-train (e.g. "--train.max_epochs 5")
  --seeds S1,S2,...          stage 3 trains every seed (exp/<tag>_seed<S>, with --seed S); stage 4
                               scores each, reports mean ± std over seeds and scores their fusion
                               (exp/<tag>_seeds_fused: posteriors averaged)
  --sweep_key KEY            stages 3-4 sweep this config key (e.g. model.heads.gender.weight) ...
  --sweep_values V1,V2,...   ... over these values with serkit-sweep: one table + plot, valid
                               speakers' choice marked; with --seeds every value trains every seed
                               (exp/<tag>/<key>_<value>_seed<S>) and the table gives mean ± std
  --run_cmd CMD              the command line RESULTS.md records (run.sh passes its own)
  --pretrain_config FILE     stage 2 pretrains with serkit-pretrain (FOP / MPC); stage 3 then loads
                               exp/pretrain/<name>/checkpoints/best.pt into a 'pretrained' encoder
                               or a classical config's representation
  --pretrain_data "D1 D2"    unlabelled data dirs to pretrain on (default data/all); dirs other than
                               data/all are dumped in stage 1 to dump/<feats>/<basename>
  --pretrain_opts "..."      overrides for serkit-pretrain (e.g. "--train.max_epochs 5")
Example: ./run.sh --stage 3 --train_config conf/train_blstm_gender.yaml
HELP
)

stage=0
stop_stage=4
nj=2
dump_device=cpu
ngpu=0
num_nodes=1
fold_nj=1
protocol=loso_session
fold_data=data/all
extra_train=
extra_label_map=
folds=all
feats_conf=conf/feats/mfcc.yaml
train_config=
tag=
data_opts=
train_opts=
sweep_key=
sweep_values=
results_md=RESULTS.md
pretrain_config=
pretrain_data=data/all
pretrain_opts=
seeds=
run_cmd=  # the recipe's command line, for RESULTS.md
. ../../tools/parse_options.sh || exit 1

log() { echo "$(date '+%F %T') ($(basename "$0"):${BASH_LINENO[0]}) $*" >&2; }
run() { log "+ $*"; "$@"; }

. ./path.sh
# dispatchers (Kaldi/ESPnet cmd.sh): every job of stages 1-3 runs through one of them
train_cmd=serkit-run
cuda_cmd="serkit-run --gpu 1"
[ ! -f ./cmd.sh ] || . ./cmd.sh
job_cmd=${train_cmd}   # training jobs: GPU ones go to cuda_cmd, asking for --ngpu GPUs (per node)
[ "${ngpu}" -eq 0 ] || job_cmd="${cuda_cmd} --gpu ${ngpu}"
[ "${num_nodes}" -le 1 ] || job_cmd+=" --num_nodes ${num_nodes}"
[ -n "${train_config}" ] || { log "error: --train_config is required"; exit 1; }
[ -f "${train_config}" ] || { log "error: ${train_config} not found"; exit 1; }
feats=$(basename "${feats_conf%.*}")
folds_name=${protocol}
[ "${fold_data}" = data/all ] || folds_name=$(basename "${fold_data}")_${protocol}
[ -z "${extra_train}" ] || folds_name+=_plus_$(basename "${extra_train}")
auto_tag=false
if [ -z "${tag}" ]; then
  auto_tag=true
  tag=$(basename "${train_config%.*}")_${feats}_${folds_name}
  # overrides change the model: they go into the name, as ESPnet does
  [ -z "${train_opts}" ] || tag+=$(echo "${train_opts}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')
  [ -z "${sweep_key}" ] || tag+=_sweep_${sweep_key}   # the full key: two keys may end alike
fi
folds_dir=data/folds/${folds_name}
dump_dir=dump/${feats}
exp_dir=exp/${tag}
# values reach Python as arguments, never as source text (a path may hold quotes or spaces)
kind=$(python -m serkit.bin.query kind "${train_config}")
classical=0; [ "${kind}" = neural ] || classical=1
config_value() {  # $1: dotted key of the resolved train config
  # shellcheck disable=SC2086
  python -m serkit.bin.query value "${train_config}" "$1" ${train_opts}
}

if [ -n "${pretrain_config}" ]; then
  [ -f "${pretrain_config}" ] || { log "error: ${pretrain_config} not found"; exit 1; }
  pretrain_tag=$(basename "${pretrain_config%.*}")_${feats}
  # named by every pretraining dir, so that "data/x" and "data/all data/x" get different dirs
  [ "${pretrain_data}" = data/all ] || pretrain_tag+=_on$(for d in ${pretrain_data}; do printf '_%s' "$(basename "${d}")"; done)
  [ -z "${pretrain_opts}" ] || pretrain_tag+=$(echo "${pretrain_opts}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')
  pretrain_dir=exp/pretrain/${pretrain_tag}
  pretrain_ckpt=${pretrain_dir}/checkpoints/best.pt
  # stage 3 takes the checkpoint where the train config has a place for it
  ckpt_opt=
  if [ "${classical}" = 1 ]; then
    ckpt_opt=--representation.checkpoint
  elif [ "$(config_value model.encoder)" = pretrained ]; then
    ckpt_opt=--model.encoder_conf.checkpoint
  fi
  if [ -n "${ckpt_opt}" ]; then
    train_opts+=" ${ckpt_opt} ${pretrain_ckpt}"
    if ${auto_tag}; then tag+=_pt_${pretrain_tag}; exp_dir=exp/${tag}; fi
  fi
fi
pretrain_dump() {  # data dir -> its feature dump (data/all's is the recipe's own)
  if [ "$1" = data/all ]; then echo "${dump_dir}/all"; else echo "${dump_dir}/$(basename "$1")"; fi
}

dump_feats() {  # $1: data dir, $2: dump dir; the shards as an array of jobs, then the merge
  local shards
  shards=$(mktemp)
  # a finished dump needs no plan: the last call alone checks its settings and skips it
  [ -f "$2/.done" ] || serkit-dump-feats --feat_conf "${feats_conf}" --nj "${nj}" --plan "$1" "$2" > "${shards}"
  if [ -s "${shards}" ]; then
    local cmd=${train_cmd}
    [ "${dump_device}" = cpu ] || cmd=${cuda_cmd}
    # shellcheck disable=SC2086
    run ${cmd} --max_jobs_run "${nj}" JOB=@"${shards}" "$2/log/dump.JOB.log" \
      serkit-dump-feats --feat_conf "${feats_conf}" --device "${dump_device}" --shard JOB "$1" "$2" \
      || { rm -f "${shards}"; return 1; }
  fi
  rm -f "${shards}"
  run serkit-dump-feats --feat_conf "${feats_conf}" "$1" "$2"   # merges the index once every shard is written
}

fold_list() {
  if [ "${folds}" = all ]; then
    python -m serkit.bin.query folds "${folds_dir}"
  else
    echo "${folds}" | tr ',' '\n' | sed 's/^/fold/' | tr '\n' ' '
  fi
}

log "experiment dir: ${exp_dir}"
if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "stage 0: data preparation and ${folds_name} folds"
  if [ ! -f data/all/.done ]; then
    # shellcheck disable=SC2086
    run local/data.sh --nj "${nj}" ${data_opts} "$@"
    run serkit-validate-data-dir --require_declared data/all   # local/data.sh declares data/all/emotions
    touch data/all/.done
  fi
  if [ ! -f "${folds_dir}/.done" ]; then
    extra_opts=()
    [ -z "${extra_train}" ] || extra_opts+=(--extra_train "${extra_train}")
    [ -z "${extra_label_map}" ] || extra_opts+=(--extra_label_map "${extra_label_map}")
    run serkit-make-folds --protocol "${protocol}" "${extra_opts[@]}" "${fold_data}" "${folds_dir}"
    touch "${folds_dir}/.done"
  fi
  # what the corpus holds and what makes its scores hard to compare (warnings go to RESULTS.md)
  run serkit-data-report "${fold_data}" --folds "${folds_dir}" --out "${fold_data}/report"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "stage 1: ${feats} features and CMVN statistics"
  dump_feats data/all "${dump_dir}/all"
  [ -f "${dump_dir}/all/cmvn_spk.npz" ] || run serkit-compute-cmvn --mode speaker \
    --feats "${dump_dir}/all/feats.scp" --data data/all --out "${dump_dir}/all/cmvn_spk.npz"
  # each fold's statistics dir holds every mode's file: global (its train split) and per speaker
  for fold in $(fold_list); do
    stats_dir=${dump_dir}/${folds_name}/${fold}
    [ -f "${stats_dir}/cmvn.npz" ] || run serkit-compute-cmvn --mode global --feats "${dump_dir}/all/feats.scp" \
      --data "${folds_dir}/${fold}/train" --out "${stats_dir}/cmvn.npz"
    [ -f "${stats_dir}/cmvn_spk.npz" ] || cp "${dump_dir}/all/cmvn_spk.npz" "${stats_dir}/cmvn_spk.npz"
  done
  if [ -n "${pretrain_config}" ]; then  # pretraining data: its own dumps, global and speaker CMVN
    for d in ${pretrain_data}; do
      pdump=$(pretrain_dump "${d}")
      [ "${d}" = data/all ] || dump_feats "${d}" "${pdump}"
      [ -f "${pdump}/cmvn.npz" ] || run serkit-compute-cmvn --mode global --feats "${pdump}/feats.scp" \
        --data "${d}" --out "${pdump}/cmvn.npz"
      [ -f "${pdump}/cmvn_spk.npz" ] || run serkit-compute-cmvn --mode speaker --feats "${pdump}/feats.scp" \
        --data "${d}" --out "${pdump}/cmvn_spk.npz"
    done
  fi
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  if [ -z "${pretrain_config}" ]; then
    log "stage 2: self-supervised pretraining: no --pretrain_config, skipped"
  elif [ -f "${pretrain_dir}/.done" ]; then
    log "stage 2: ${pretrain_dir}: done, skipped"
  else
    log "stage 2: pretraining ${pretrain_config} on ${pretrain_data} -> ${pretrain_dir}"
    pt_args=()
    for d in ${pretrain_data}; do
      pdump=$(pretrain_dump "${d}")
      pt_args+=(--data "${d}" --feats "${pdump}/feats.scp" --cmvn_dir "${pdump}")
    done
    log "log: ${pretrain_dir}/pretrain.log"
    # shellcheck disable=SC2086
    run ${job_cmd} "${pretrain_dir}/pretrain.log" ../TEMPLATE/launch.sh --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
      pretrain --config "${pretrain_config}" "${pt_args[@]}" --exp_dir "${pretrain_dir}" ${pretrain_opts}
    touch "${pretrain_dir}/.done"
  fi
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  # one stage 3 for every kind of run: the runs are (exp dir, extra options) pairs
  runs=()
  if [ -n "${sweep_key}" ] && [ -n "${seeds}" ]; then   # exp/<tag>/<key>_<value>_seed<S>/fold<k>
    for value in ${sweep_values//,/ }; do
      for seed in ${seeds//,/ }; do
        runs+=("${exp_dir}/${sweep_key}_${value}_seed${seed}|--${sweep_key} ${value} --seed ${seed}")
      done
    done
  elif [ -n "${sweep_key}" ]; then   # one run per value: exp/<tag>/<key>_<value>/fold<k>
    for value in ${sweep_values//,/ }; do runs+=("${exp_dir}/${sweep_key}_${value}|--${sweep_key} ${value}"); done
  elif [ -n "${seeds}" ]; then     # one run per seed: exp/<tag>_seed<S>/fold<k>
    for seed in ${seeds//,/ }; do runs+=("${exp_dir}_seed${seed}|--seed ${seed}"); done
  else
    runs=("${exp_dir}|")
  fi
  log "stage 3: training ${train_config} on ${protocol} folds: $(fold_list)${sweep_key:+ (sweeping ${sweep_key} over ${sweep_values})}"
  if [ "${fold_nj}" -gt 1 ] && [ -z "${OMP_NUM_THREADS:-}" ]; then
    # folds trained at once share the cores: a thread pool of cores / fold_nj each, not one of
    # every core each (oversubscribed pools ran 6x slower on 2 cores)
    OMP_NUM_THREADS=$(( $(nproc) / fold_nj )); [ "${OMP_NUM_THREADS}" -ge 1 ] || OMP_NUM_THREADS=1
    export OMP_NUM_THREADS
    log "${fold_nj} folds at once: OMP_NUM_THREADS=${OMP_NUM_THREADS} each"
  fi
  # one job per (run, fold) not yet done, named by its exp dir; a run's own options in <run>/run_opts
  fold_jobs=$(mktemp)
  for run_spec in "${runs[@]}"; do
    run_exp=${run_spec%%|*}; run_opt=${run_spec#*|}
    mkdir -p "${run_exp}"
    if [ -n "${run_opt}" ]; then echo "${run_opt}" > "${run_exp}/run_opts"; else rm -f "${run_exp}/run_opts"; fi
    for fold in $(fold_list); do
      if [ -f "${run_exp}/${fold}/.done" ]; then log "${run_exp}/${fold}: done, skipped"; else echo "${run_exp}/${fold}" >> "${fold_jobs}"; fi
    done
  done
  if [ -s "${fold_jobs}" ]; then
    log "$(wc -l < "${fold_jobs}") fold job(s), ${fold_nj} at once, each logging to <exp>/<fold>.log"
    fold_job_opts=(--train_config "${train_config}" --classical "${classical}" --ngpu "${ngpu}" --num_nodes "${num_nodes}"
                   --folds_dir "${folds_dir}" --feats "${dump_dir}/all/feats.scp" --cmvn_root "${dump_dir}/${folds_name}")
    # a classical run's utterance vectors, computed once for every fold, run and seed that share them
    [ "${classical}" = 0 ] || fold_job_opts+=(--vector_cache "${dump_dir}/vector_cache")
    cmd=${job_cmd}; [ "${classical}" = 0 ] || cmd=${train_cmd}
    # shellcheck disable=SC2086
    if ! run ${cmd} --max_jobs_run "${fold_nj}" JOB=@"${fold_jobs}" JOB.log \
        ../TEMPLATE/train_fold.sh "${fold_job_opts[@]}" --train_opts "${train_opts}" JOB; then
      failed=0
      while read -r job; do [ -f "${job}/.done" ] || failed=$((failed + 1)); done < "${fold_jobs}"
      rm -f "${fold_jobs}"
      logs=${exp_dir}; [ -z "${seeds}" ] || logs=${exp_dir}_seed*; [ -z "${sweep_key}" ] || logs=${exp_dir}/*
      log "error: ${failed} fold(s) failed: see ${logs}/fold*.log"
      exit 1
    fi
  fi
  rm -f "${fold_jobs}"
fi

if [ -n "${sweep_key}" ] && [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  log "stage 4: scoring the sweep ${exp_dir}"
  # shellcheck disable=SC2086
  run serkit-sweep --config "${train_config}" --key "${sweep_key}" --values "${sweep_values}" \
    --folds_dir "${folds_dir}" --folds "$(fold_list)" --exp_dir "${exp_dir}" --results_md "${results_md}" \
    ${seeds:+--seeds "${seeds}"} --title "${tag}${seeds:+ (seeds ${seeds})}" -- ${train_opts}
elif [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  cmvn_mode=$(config_value data.cmvn)   # for RESULTS.md: the binaries read it from the config themselves
  notes=(--note "command: ${run_cmd:-./run.sh --train_config ${train_config} --protocol ${protocol}${extra_train:+ --extra_train ${extra_train}}${train_opts:+ --train_opts \"${train_opts}\"}}"
         --note "config: ${train_config} (resolved: ${exp_dir}*/fold*/config.yaml)"
         --note "features: ${feats_conf}, CMVN ${cmvn_mode}")
  if [ -s "${fold_data}/report/warnings.txt" ]; then   # the data report's warnings, beside the scores
    while IFS= read -r warning; do notes+=(--note "data warning: ${warning}"); done < "${fold_data}/report/warnings.txt"
  fi
  if [ -n "${seeds}" ] && [ "${seeds}" = "${seeds//,/}" ]; then   # one seed: its dir alone
    log "stage 4: scoring ${exp_dir}_seed${seeds}"
    run serkit-score --exp_dir "${exp_dir}_seed${seeds}" --folds_dir "${folds_dir}" --results_md "${results_md}" \
      --folds "$(fold_list)" --title "${tag}_seed${seeds}" "${notes[@]}"
  elif [ -n "${seeds}" ]; then
    log "stage 4: scoring seeds ${seeds} of ${exp_dir} and their fusion"
    seed_dirs=()
    for seed in ${seeds//,/ }; do seed_dirs+=(--exp_dir "${exp_dir}_seed${seed}"); done
    run serkit-score "${seed_dirs[@]}" --folds_dir "${folds_dir}" --results_md "${results_md}" \
      --folds "$(fold_list)" --title "${tag} (seeds ${seeds})" "${notes[@]}"
    run serkit-fuse "${seed_dirs[@]}" --folds_dir "${folds_dir}" --folds "$(fold_list)" \
      --out_dir "${exp_dir}_seeds_fused"
    run serkit-score --exp_dir "${exp_dir}_seeds_fused" --folds_dir "${folds_dir}" --results_md "${results_md}" \
      --folds "$(fold_list)" --title "${tag}_seeds_fused" "${notes[@]}" \
      --note "fusion: posteriors of seeds ${seeds} averaged with equal weights"
  else
    log "stage 4: scoring ${exp_dir}"
    run serkit-score --exp_dir "${exp_dir}" --folds_dir "${folds_dir}" --results_md "${results_md}" \
      --folds "$(fold_list)" --title "${tag}" "${notes[@]}"
  fi
fi
log "finished stages ${stage}..${stop_stage}"
