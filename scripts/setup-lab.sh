#!/bin/sh
# Install what the juggler lab needs to build its guest and boot it, and
# nothing else: only packages that are missing, so running it again is
# instant. Called by the project's test setup; needs root (or sudo) only when
# something is missing.
#
#   qemu-system-x86   qemu-system-x86_64, to run the guests
#   busybox-static    the guest's userland (static: the initramfs has no libc)
#   gcc libc6-dev     to compile the guest workload with -static
#   apt's own `apt-get download` fetches the guest kernel package at build
#   time (juggler.lab.image), so no linux-image package is installed here.
set -eu

packages="qemu-system-x86 busybox-static gcc libc6-dev"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done

# the guest kernel is fetched with `apt-get download`, which needs apt's lists
need_update=""
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    need_update=yes
fi

if [ -z "$missing" ] && [ -z "$need_update" ]; then
    echo "setup-lab: all present ($packages; apt knows the guest kernel)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "setup-lab: need root to install:$missing (or to run apt-get update)" >&2
    exit 1
fi

$sudo apt-get update -q
if [ -n "$missing" ]; then
    echo "setup-lab: installing:$missing"
    # shellcheck disable=SC2086  # the package list is meant to split
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends $missing
fi
