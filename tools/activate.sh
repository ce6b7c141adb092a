# Source me: installs serkit on first use, then activates its virtual environment.
# Usage: source tools/activate.sh
_serkit_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
"${_serkit_tools}/install.sh"
# shellcheck disable=SC1091
source "${SERKIT_VENV:-${_serkit_tools}/venv}/bin/activate"
unset _serkit_tools
