"""``juggler top``: a live terminal view of a run, in the spirit of esxtop's memory panel.

:mod:`~juggler.top.data` reads a run file (growing or finished) into plain rows;
:mod:`~juggler.top.columns` says how each column is headed, keyed, written and
sorted; :mod:`~juggler.top.app` draws them with Textual; :mod:`~juggler.top.live`
runs the screen alone or beside the run that writes the file. Textual is only
imported when a screen is shown, so reading rows stays cheap.
"""

from __future__ import annotations

from juggler.top.data import Header, RunReader, Snapshot, VmRow, build_snapshot
from juggler.top.live import run_with_top, show_top

__all__ = [
    "Header",
    "RunReader",
    "Snapshot",
    "VmRow",
    "build_snapshot",
    "run_with_top",
    "show_top",
]
