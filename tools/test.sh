#!/usr/bin/env bash
# Runs serkit's test suite (installs the environment on first use).
# Usage: tools/test.sh [pytest options]
# Example: tools/test.sh -k folds
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "${root}/tools/activate.sh"
cd "${root}"
exec python -m pytest "$@"
