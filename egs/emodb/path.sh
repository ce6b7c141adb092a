# Environment of the recipe: serkit's virtual environment (installed on first use).
# shellcheck disable=SC1091
. ../../tools/activate.sh
export PYTHONUNBUFFERED=1
export LC_ALL=C
