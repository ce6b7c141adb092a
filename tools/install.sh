#!/usr/bin/env bash
# Usage: tools/install.sh [--force]
# Creates the virtual environment tools/venv (or $SERKIT_VENV) with the pinned requirements
# and serkit installed in editable mode. Does nothing when it is already up to date.
# Example: tools/install.sh && source tools/venv/bin/activate
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(dirname "${tools_dir}")
venv=${SERKIT_VENV:-${tools_dir}/venv}
python=${PYTHON:-python3}
stamp=${venv}/.serkit-installed
want=$(cat "${tools_dir}/requirements.txt" "${root}/setup.py" | sha256sum | cut -d' ' -f1)

if [ "${1:-}" != "--force" ] && [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ]; then
  exit 0
fi
echo "$0: installing serkit and its requirements into ${venv} (first use: a few minutes)" >&2
pip_install() {  # pip without the noise of local index warnings; fails when pip fails
  "${venv}/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -vE \
    "is ignored: it is neither|BuildBackendWarning|^ *!!|\*{20}|careful with folders|name as your package|take precedence|WheelFile\(|^ *$" || true; } >&2
}
[ -x "${venv}/bin/python" ] || "${python}" -m venv "${venv}"
pip_install --upgrade pip setuptools wheel
pip_install -r "${tools_dir}/requirements.txt"
pip_install --no-deps --no-build-isolation -e "${root}"
"${venv}/bin/python" -c "import serkit, torch, torchaudio, soundfile, espeakng_loader" >&2
echo "${want}" > "${stamp}"
echo "$0: done" >&2
