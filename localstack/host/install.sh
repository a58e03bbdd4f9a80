#!/usr/bin/env bash
# Installs LocalStack (pinned, requirements.txt) and the project's host Lambda executor into
# localstack/host/.venv. localstack-core 2026.3 declares Python >= 3.12 but imports
# `warnings.deprecated`, which only 3.13 has: LOCALSTACK_PYTHON, python3.13, python3 or a pyenv
# 3.13 are tried in that order. Safe to run again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$here/.venv

find_python() {
    local candidates=("${LOCALSTACK_PYTHON:-}" python3.13 python3)
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for v in "$pyenv_root"/versions/3.1[3-9]*; do
        candidates+=("$v/bin/python")
    done
    for c in "${candidates[@]}"; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [ ! -x "$venv/bin/python" ]; then
    python=$(find_python) || {
        echo "local stack: LocalStack needs Python 3.13 or newer and none was found." >&2
        echo "  Install one (e.g. 'pyenv install 3.13') or set LOCALSTACK_PYTHON=/path/to/python3.13." >&2
        exit 1
    }
    "$python" -m venv "$venv"
fi
stamp=$venv/.requirements.sha
want=$(cat "$here/requirements.txt" "$here/executor/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -e "$here/executor"
    echo "$want" > "$stamp"
fi
