#!/usr/bin/env bash
# promtool (Prometheus' rule and metrics checker) for `make lint`/`make test`, without installing Prometheus: the
# Debian package `prometheus` would start a server on the controller, so its .deb is only downloaded (apt-get
# download) and unpacked (dpkg-deb -x) into a cache directory; promtool is a static Go binary that runs from there.
# Safe to run twice: an unpacked promtool that answers --version is kept. Prints the path of promtool.
set -euo pipefail

CACHE=${FRACTO_TOOLS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.fracto/tools}
ROOT=$CACHE/prometheus
PROMTOOL=$ROOT/usr/bin/promtool

if [ -x "$PROMTOOL" ] && "$PROMTOOL" --version >/dev/null 2>&1; then
    echo "$PROMTOOL"
    exit 0
fi

mkdir -p "$CACHE/deb"
cd "$CACHE/deb"
rm -f prometheus_*.deb
# apt-get download needs the package lists; refresh them once when it does not know the package yet.
if ! apt-get download prometheus >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get download prometheus >/dev/null
fi
rm -rf "$CACHE/unpacked"
dpkg-deb -x prometheus_*.deb "$CACHE/unpacked"
rm -f prometheus_*.deb
test -x "$CACHE/unpacked/usr/bin/promtool"
rm -rf "$ROOT"
mkdir -p "$ROOT/usr/bin"
mv "$CACHE/unpacked/usr/bin/promtool" "$PROMTOOL"
rm -rf "$CACHE/unpacked"  # the server and its web assets: only promtool is kept
"$PROMTOOL" --version >/dev/null
echo "$PROMTOOL"
