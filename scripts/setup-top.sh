#!/bin/sh
# Install what the tests of `juggler top` need, only if it is missing (running
# it again is instant). Called by `scripts/setup.sh --test`; needs root (or
# sudo) only when something is missing.
#
#   tmux   a real pseudo-terminal for tests/top/test_terminal.py, which runs
#          `juggler top` and `juggler simulate --top` in it and reads the screen
set -eu

packages="tmux"

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "setup-top: all present ($packages)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "setup-top: need root to install:$missing" >&2
    exit 1
fi

$sudo apt-get update -q
echo "setup-top: installing:$missing"
# shellcheck disable=SC2086  # the package list is meant to split
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
