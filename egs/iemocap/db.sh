# Corpus locations of this recipe. Set IEMOCAP here, or give --iemocap_root to run.sh.
IEMOCAP=${IEMOCAP:-}
