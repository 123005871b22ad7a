#!/bin/sh
# Install the browser the report tests render in: Debian's chromium (headless,
# driven by the playwright Python package against /usr/bin/chromium; no browser
# is ever downloaded by playwright), and a font so screenshots have text. Only
# what is missing is installed, so running it again is instant. Called by
# `scripts/setup.sh --test`; needs root (or sudo) only when something is missing.
set -eu

packages="chromium fonts-dejavu-core"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "setup-browser: all present ($packages)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "setup-browser: need root to install:$missing" >&2
    exit 1
fi

echo "setup-browser: installing:$missing"
$sudo apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
