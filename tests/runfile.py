"""Raw SQL on a run file, for tests that check juggler's readers against the file itself.

Only tests do this: in ``src/`` the run file has one owner, ``metrics/store.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from juggler.metrics.store import RunStore


def run_sql(run: RunStore | str | Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
    """The rows of ``sql`` on the run file ``run`` (a path, or an open store's file), read-only."""
    path = run.path if isinstance(run, RunStore) else Path(run)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()
