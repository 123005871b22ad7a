#!/bin/sh
# Install those of the given Debian packages that are missing, and nothing
# else, so running it again is instant. Needs root (or sudo) only when something
# is missing. JUGGLER_APT_UPDATE=yes refreshes apt's lists even when nothing is.
#
#   scripts/apt-install-missing.sh WHO PACKAGE...     (WHO names the caller in messages)
set -eu

who=$1
shift
packages="$*"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ] && [ -z "${JUGGLER_APT_UPDATE:-}" ]; then
    echo "$who: all present ($packages)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "$who: need root to install:$missing (or to run apt-get update)" >&2
    exit 1
fi

$sudo apt-get update -q
if [ -n "$missing" ]; then
    echo "$who: installing:$missing"
    # shellcheck disable=SC2086  # the package list is meant to split
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends $missing
fi
