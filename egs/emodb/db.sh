# Corpus location of this recipe; or give --corpus_root (or --emodb_root) to run.sh.
EMODB=${EMODB:-}
# Unlabelled real speech for stage 2 pretraining (run_pretrain.sh): the speechocean762 subset.
SPEECHOCEAN762=${SPEECHOCEAN762:-}
