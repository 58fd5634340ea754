#!/usr/bin/env bash
# Run `ansible-test sanity` on the fracto.hosting collection with the project venv, through ansible-test's
# command line only (no import of its private ansible_test._internal package). No ignore file: every finding fails.
#
# Offline, one obstacle: ansible-test bootstraps pip into each sanity venv it makes with a get-pip script it
# downloads from ci-files.testing.ansible.com, which this lab cannot reach (PyPI, which the requirements come
# from, is reachable). It first looks in its cache, ~/.ansible/test/cache/get_pip_<pip version>.py, and when the
# download fails its error says where to put the script:
#     The bootstrap script can be manually downloaded and saved to: <that path>
# So this script first prepares the venvs with the documented `--prime-venvs` option; if that fails with that
# message, it puts scripts/get_pip_standin.py at the path ansible-test named (see that file for why it works) and
# primes again. No version is read from ansible-test's internals: ansible-test itself names the file it wants.
# Where ci-files is reachable, the real script is downloaded and the stand-in never used. A stand-in left in the
# cache by an earlier run is refreshed when scripts/get_pip_standin.py changes (a real get-pip is never touched).
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8]
# Env:   FRACTO_VENV (default .venv), SANITY_PYTHON (default: the venv's X.Y)
# Exit:  ansible-test sanity's own status (non-zero on any finding); 1 if the venvs cannot be prepared.
# Safe to run twice: venvs and the stand-in are reused; nothing in the work tree is written.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${FRACTO_VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
COLLECTION="$ROOT/collections/ansible_collections/fracto/hosting"
STANDIN_SRC="$ROOT/scripts/get_pip_standin.py"
CACHE="$HOME/.ansible/test/cache"

[ -x "$VENV/bin/python" ] || "$ROOT/scripts/ensure-venv.sh"
[ -x "$VENV/bin/ansible-test" ] || { echo "sanity: $VENV has no ansible-test (ansible-core)" >&2; exit 1; }
PY_VERSION=${SANITY_PYTHON:-$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}

# An earlier stand-in (recognised by its first docstring line) is brought up to date; real get-pip scripts are not.
mkdir -p "$CACHE"
for cached in "$CACHE"/get_pip_*.py; do
  [ -f "$cached" ] && grep -q '^"""Stand-in for the get-pip.py bootstrap script' "$cached" || continue
  cmp -s "$STANDIN_SRC" "$cached" || { install -m 0644 "$STANDIN_SRC" "$cached"; echo "sanity: refreshed the stand-in $cached"; }
done

# ansible-test lists the collection's files with `git ls-files --cached --others --exclude-standard`: tracked and
# untracked files count alike, ignored ones do not. Nothing to stage, then; a work tree and a clean clone agree.
cd "$COLLECTION"
export PATH="$VENV/bin:$PATH"
SANITY=(ansible-test sanity --python "$PY_VERSION" --requirements --color no)

prime() {  # prepare the sanity venvs (quick when they exist); the output goes to $1, shown only on failure
  echo "sanity: preparing ansible-test's sanity venvs (--prime-venvs)"
  "${SANITY[@]}" --prime-venvs "${@:2}" >"$1" 2>&1
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
if ! prime "$log" "$@"; then
  # The path ansible-test asks for, accepted only as a get_pip_<version>.py file of its cache.
  want=$(sed -n 's/.*manually downloaded and saved to: *//p' "$log" | tail -n1 | tr -d '[:space:]')
  case "$want" in
    "$CACHE"/get_pip_*.py) ;;
    *) cat "$log" >&2; echo "sanity: ansible-test could not prepare its venvs, and not for want of the get-pip script" >&2; exit 1 ;;
  esac
  [[ $(basename "$want") =~ ^get_pip_[0-9_]+\.py$ ]] || { echo "sanity: unexpected bootstrap path $want" >&2; exit 1; }
  install -m 0644 "$STANDIN_SRC" "$want"
  echo "sanity: installed the get-pip stand-in as $want (ci-files.testing.ansible.com unreachable)"
  prime "$log" "$@" || { cat "$log" >&2; echo "sanity: ansible-test could not prepare its venvs with the stand-in" >&2; exit 1; }
fi

set +e
"${SANITY[@]}" "$@"
rc=$?
set -e
echo "sanity: ansible-test sanity exited $rc after $(( $(date +%s) - start )) s"
exit $rc
