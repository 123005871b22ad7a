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
#   time (juggler.lab.image), so no linux-image package is installed here,
#   but apt's lists must know it.
set -eu

need_update=""
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    need_update=yes
fi
JUGGLER_APT_UPDATE=$need_update sh "$(dirname "$0")/apt-install-missing.sh" setup-lab \
    qemu-system-x86 busybox-static gcc libc6-dev
