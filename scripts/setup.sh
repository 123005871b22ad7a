#!/usr/bin/env bash
# Set up juggler on a fresh Debian machine: a virtual environment in .venv with
# juggler installed from this checkout.
#   scripts/setup.sh          juggler itself (enough for `juggler simulate`)
#   scripts/setup.sh --test   also the test tools, and the Debian packages the tests
#                             need: the lab's (QEMU, busybox: scripts/setup-lab.sh),
#                             tmux (a real terminal for `juggler top`'s tests), and
#                             chromium with a font (the report's browser test, driven
#                             by the playwright package; no browser is downloaded)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "juggler needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        echo "setup: '$python -m venv' failed; installing Debian's python3-venv" >&2
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        rm -rf .venv && "$python" -m venv .venv
    fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_test" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
    sh scripts/setup-lab.sh
    sh scripts/apt-install-missing.sh setup-tests tmux chromium fonts-dejavu-core
else
    .venv/bin/python -m pip install -q -e .
fi
