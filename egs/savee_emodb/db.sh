# Corpus locations of this recipe; or give --savee_root / --emodb_root to run.sh.
SAVEE=${SAVEE:-}
EMODB=${EMODB:-}
