# Corpus location of this recipe; or give --emodb_root to run.sh.
EMODB=${EMODB:-}
