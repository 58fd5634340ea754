#!/usr/bin/env bash
# Bring the lab's containers up (molecule/default), recreating them when any is missing or stopped:
# molecule's own record may say "created" for containers that another checkout or a reboot removed.
set -euo pipefail
cd "$(dirname "$0")/.."
names=$(python -c 'import yaml; print(" ".join(p["name"] for p in yaml.safe_load(open(".config/molecule/config.yml"))["platforms"]))')
running=$(docker inspect -f '{{.State.Running}}' $names 2>/dev/null | grep -c true || true)
if [ "$running" -ne "$(wc -w <<<"$names")" ]; then
  echo "lab: (re)creating containers: $names"
  molecule destroy -s default >/dev/null
  molecule create -s default
else
  echo "lab: containers running: $names"
fi
