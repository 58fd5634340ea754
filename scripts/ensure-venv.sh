#!/usr/bin/env bash
# Create (or reuse) the project venv with a Python >= 3.12 (ansible-core 2.21 needs it).
# Reinstalls only when requirements.txt changes. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FRACTO_VENV:-.venv}

find_python() {
  local cand
  for cand in python3.13 python3.12 \
      "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.13"*/bin/python3)" \
      "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.12"*/bin/python3)" \
      /root/.pyenv/versions/3.1[23]*/bin/python3 python3; do
    [ -n "$cand" ] || continue
    for exe in $cand; do
      if command -v "$exe" >/dev/null 2>&1 && "$exe" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        command -v "$exe"; return 0
      fi
    done
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || {
    echo "No Python >= 3.12 found; installing Debian's python3 cannot help on bookworm (3.11)." >&2
    echo "Install one (pyenv install 3.12) and rerun." >&2; exit 1; }
  echo "venv: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.requirements.sha256"
WANT=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "venv: installing requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$WANT" > "$STAMP"
else
  echo "venv: up to date ($VENV)"
fi
