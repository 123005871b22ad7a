"""``python -m juggler.cli``: the ``juggler`` command, from a checkout."""

from juggler.cli.app import main

main()
