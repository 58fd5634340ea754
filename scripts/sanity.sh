#!/usr/bin/env bash
# Run `ansible-test sanity` on the fracto.hosting collection with the project venv.
#
# ansible-test bootstraps pip into each venv it makes by downloading a get-pip
# script from ci-files.testing.ansible.com, which this lab cannot reach. It looks
# in ~/.ansible/test/cache/get_pip_<pip version, dots as underscores>.py first,
# so we put scripts/get_pip_standin.py there (see that file for why it works).
# The pip version is read from the installed ansible_test package.
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pep8]
# Env:   FRACTO_VENV (default .venv), SANITY_PYTHON (default: the venv's X.Y)
# Safe to run twice: the cache file is rewritten only when it differs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=${FRACTO_VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
COLLECTION="$ROOT/collections/ansible_collections/fracto/hosting"

[ -x "$VENV/bin/python" ] || "$ROOT/scripts/ensure-venv.sh"
[ -x "$VENV/bin/ansible-test" ] || { echo "sanity: $VENV has no ansible-test (ansible-core)" >&2; exit 1; }

PY_VERSION=${SANITY_PYTHON:-$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}

# The pip version ansible-test bootstraps into its venvs for this Python.
PIP_VERSION=$(cd /tmp && "$VENV/bin/python" - "$PY_VERSION" <<'EOF'
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])
EOF
) || {
  # Fallback for an ansible-test whose internals moved: the literal default.
  PIP_VERSION=$(grep -Eo "pip='[0-9.]+'" \
    "$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" \
    | head -n1 | cut -d"'" -f2)
}
[ -n "$PIP_VERSION" ] || { echo "sanity: cannot find the pip version ansible-test wants" >&2; exit 1; }

CACHE="$HOME/.ansible/test/cache"
STANDIN="$CACHE/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$CACHE"
if ! cmp -s "$ROOT/scripts/get_pip_standin.py" "$STANDIN"; then
  install -m 0644 "$ROOT/scripts/get_pip_standin.py" "$STANDIN"
  echo "sanity: installed the get-pip stand-in as $STANDIN"
fi

# ansible-test lists the collection's files with `git ls-files --cached --others
# --exclude-standard`: tracked and untracked files count alike, ignored ones do not.
# Nothing to stage, then; the same files are seen in a work tree and in a clean clone.
cd "$COLLECTION"
export PATH="$VENV/bin:$PATH"
start=$(date +%s)
set +e
ansible-test sanity --python "$PY_VERSION" --requirements --color no "$@"
rc=$?
set -e
echo "sanity: ansible-test sanity exited $rc after $(( $(date +%s) - start )) s"
exit $rc
