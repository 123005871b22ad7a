"""The ``juggler`` command line: ``app`` (the typer app) and ``main`` (the console entry).

``app`` registers the commands; each command module (``simulate``, ``inspect``,
``run``, ``lab``) holds commands only, ``options`` the options they share and
``output`` what they print. See docs/design.md for the layout.
"""

from __future__ import annotations

from juggler.cli.app import app, main

__all__ = ["app", "main"]
