#!/usr/bin/env bash
# Build the lab's base image without a registry: debootstrap + docker import.
# Cached: rebuilt only when this recipe changes (its hash is stored as an image label).
set -euo pipefail
IMAGE=${FRACTO_LAB_IMAGE:-fracto-lab-base:bookworm}
SUITE=bookworm
PACKAGES=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,iputils-ping,ca-certificates,procps,openssl,netbase,curl,less,gnupg,apt-transport-https
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
RECIPE=$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "$(sed -n '/^# recipe-begin/,/^# recipe-end/p' "$0")" | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{ index .Config.Labels "fracto.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
  echo "base image: $IMAGE is current (recipe $RECIPE)"; exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }

ROOTFS=$(mktemp -d /var/tmp/fracto-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "base image: debootstrap $SUITE from $MIRROR (about a minute)"
# recipe-begin
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
  || { tail -20 "$ROOTFS.log" >&2; exit 1; }
cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
SOURCES
# A container has no consoles or udev to wait for; these units only slow boot or fail.
for unit in systemd-udevd.service systemd-udev-trigger.service getty.target console-getty.service \
    systemd-logind.service systemd-remount-fs.service systemd-firstboot.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done
echo 'APT::Install-Recommends "false";' >"$ROOTFS/etc/apt/apt.conf.d/90-no-recommends"
# A container may not make user namespaces: units that ask for one (Debian's redis-server) fail to start (217/USER).
mkdir -p "$ROOTFS/etc/systemd/system/redis-server.service.d"
printf '[Service]\nPrivateUsers=false\n' >"$ROOTFS/etc/systemd/system/redis-server.service.d/container.conf"
rm -f "$ROOTFS/etc/machine-id"; : >"$ROOTFS/etc/machine-id"
apt_clean="$ROOTFS/var/cache/apt/archives"; rm -f "$apt_clean"/*.deb
# recipe-end
tar -C "$ROOTFS" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' --change 'ENV container=docker' \
  --change "LABEL fracto.recipe=$RECIPE" - "$IMAGE" >/dev/null
rm -f "$ROOTFS.log"
echo "base image: built $IMAGE (recipe $RECIPE)"
