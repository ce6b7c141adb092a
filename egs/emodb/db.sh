# Corpus location of this recipe; or give --corpus_root (or --emodb_root) to run.sh.
EMODB=${EMODB:-}
