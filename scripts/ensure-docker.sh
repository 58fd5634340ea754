#!/usr/bin/env bash
# Make sure a Docker engine answers; install Debian's docker.io and start it when none runs.
set -euo pipefail
if docker info >/dev/null 2>&1; then echo "docker: engine running"; exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker: installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1; then
  echo "docker: starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && { echo "docker: engine running"; exit 0; }; sleep 1; done
echo "docker: engine did not start, see /var/log/dockerd.log" >&2; exit 1
