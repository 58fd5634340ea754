#!/usr/bin/env bash
# Build the base image of the execution environment (execution-environment.yml) without a registry:
# debootstrap of Debian trixie + docker import. trixie, not the lab's bookworm: ansible-core 2.21 needs Python >= 3.12
# on the controller (trixie has 3.13, bookworm 3.11). Python packages go into a virtual environment, /opt/fracto-ee,
# because Debian's own Python refuses ensurepip and pip (PEP 668) and ansible-builder runs both; its bin/ is first
# on PATH. The system packages of bindep.txt are installed here already (ansible-builder then finds nothing missing).
# Cached: rebuilt only when this recipe changes (its hash is stored as an image label).
# Usage: scripts/build-ee-base-image.sh; then `ansible-builder build` (docs/awx.md#the-execution-environment).
# Env: FRACTO_EE_BASE_IMAGE (default localhost/fracto-ee-base:trixie, the name execution-environment.yml expects);
#      FRACTO_EE_CA_DIR: a directory of extra trust anchors (*.crt) to add, e.g. /usr/local/share/ca-certificates
#      where PyPI is reached through a TLS-inspecting proxy (the image build runs pip inside the image).
set -euo pipefail
IMAGE=${FRACTO_EE_BASE_IMAGE:-localhost/fracto-ee-base:trixie}
SUITE=trixie
PACKAGES=python3,python3-venv,openssh-client,ca-certificates
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA_DIR=${FRACTO_EE_CA_DIR:-}
CAS=$( [ -n "$CA_DIR" ] && cat "$CA_DIR"/*.crt 2>/dev/null | sha256sum | cut -c1-16 || echo none)
RECIPE=$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "$CAS" "$(sed -n '/^# recipe-begin/,/^# recipe-end/p' "$0")" | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "fracto.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
  echo "ee base image: $IMAGE is current (recipe $RECIPE)"; exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

ROOTFS=$(mktemp -d /var/tmp/fracto-ee-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "ee base image: debootstrap $SUITE from $MIRROR (about a minute)"
# recipe-begin
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -20 "$ROOTFS.log" >&2; exit 1; }
cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
SOURCES
echo 'APT::Install-Recommends "false";' >"$ROOTFS/etc/apt/apt.conf.d/90-no-recommends"
if [ -n "$CA_DIR" ]; then
  cp "$CA_DIR"/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null
fi
chroot "$ROOTFS" python3 -m venv /opt/fracto-ee
rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
# recipe-end
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/opt/fracto-ee/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change "LABEL fracto.recipe=$RECIPE" - "$IMAGE" >/dev/null
rm -f "$ROOTFS.log"
echo "ee base image: built $IMAGE (recipe $RECIPE)"
