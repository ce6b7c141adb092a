# How this recipe's jobs run, in the Kaldi/ESPnet convention: train_cmd runs CPU jobs (feature
# dump shards, classical systems, CPU training), cuda_cmd GPU jobs (training with --ngpu > 0).
# Every parallel job of stages 1-3 goes through one of them; see "Running on a cluster" in the
# README. Choose with SERKIT_CMD=local|slurm, or edit the lines for your cluster (to change one
# recipe only, replace its cmd.sh link by a copy).
case "${SERKIT_CMD:-local}" in
  local)   # this machine; ser.sh caps the jobs at once with --nj (stage 1) and --fold_nj (stage 3)
    train_cmd="serkit-run"
    cuda_cmd="serkit-run --gpu 1" ;;
  slurm)   # sbatch array jobs; add --partition NAME, --sbatch_opts "--account X --qos Y" as needed
    train_cmd="serkit-slurm --mem 8G --time 4:00:00"
    cuda_cmd="serkit-slurm --gpu 1 --num_threads 4 --mem 32G --time 24:00:00" ;;
  *)
    echo "cmd.sh: SERKIT_CMD is 'local' or 'slurm', not '${SERKIT_CMD}'" >&2
    return 1 ;;
esac
