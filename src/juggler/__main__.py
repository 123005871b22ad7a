"""``python -m juggler`` runs the command line, as the ``juggler`` script does."""

from juggler.cli import main

main()
