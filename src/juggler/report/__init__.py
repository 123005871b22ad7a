"""``juggler report``: a run, or a comparison, as one self-contained HTML page.

The page is static SVG drawn in Python (:mod:`~juggler.report.svg`) with
inline CSS and a few lines of script, so it opens offline and makes no
request. Modules, from data to page:

- :mod:`~juggler.report.data` — the run file as arrays, its summary and diagnosis;
- :mod:`~juggler.report.downsample` — at most 600 points across, min/max kept;
- :mod:`~juggler.report.svg`, :mod:`~juggler.report.bars` — chart primitives;
- :mod:`~juggler.report.charts` — the run's charts on one shared time axis;
- :mod:`~juggler.report.page`, :mod:`~juggler.report.compare_page`,
  :mod:`~juggler.report.fidelity_page` — the pages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from juggler.errors import ReportError
from juggler.metrics.store import RunStore

if TYPE_CHECKING:
    from juggler.fidelity import FidelityTable

__all__ = ["check_writable", "write_compare_report", "write_fidelity_report", "write_report"]


def check_writable(path: str | Path) -> Path:
    """Refuse, before any work is done, an output path that cannot be written.

    A missing directory is fine when it can be created (``compare --report`` may
    point into the ``--out-dir`` it is about to make).

    :raise ReportError: When it is a directory, or its nearest existing ancestor is a
        file or not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"{path}: is a directory; give a file name such as report.html")
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ReportError(f"{path}: cannot write the report: {ancestor} is not a directory")
    writable = os.access(ancestor, os.W_OK | os.X_OK)
    if not writable or (path.exists() and not os.access(path, os.W_OK)):
        raise ReportError(f"{path}: cannot write the report: permission denied")
    return path


def _write(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ReportError(f"{path}: cannot write the report: {err.strerror or err}") from err
    return path


def write_report(run: str | Path, out: str | Path) -> Path:
    """Draw the run file ``run`` as the HTML page ``out``.

    :raise StoreError: When ``run`` is missing or not a juggler run file.
    :raise ReportError: When ``out`` cannot be written.
    :return: the path written.
    """
    from juggler.report.data import load_report_data
    from juggler.report.page import run_report_html

    out = check_writable(out)
    with RunStore.open(run) as store:
        data = load_report_data(store)
    return _write(out, run_report_html(data))


def write_compare_report(rows: list[dict[str, Any]], seeds: int, out: str | Path) -> Path:
    """Draw ``compare``'s result rows as the HTML page ``out``.

    :raise ReportError: When ``out`` cannot be written.
    """
    from juggler.report.compare_page import compare_report_html

    out = check_writable(out)
    return _write(out, compare_report_html(rows, seeds, out.parent))


def write_fidelity_report(table: FidelityTable, out: str | Path) -> Path:
    """Draw ``juggler fidelity``'s table and both worlds' trajectories as the HTML page ``out``.

    :raise StoreError: When one of the table's run files cannot be read.
    :raise ReportError: When ``out`` cannot be written.
    """
    from juggler.report.fidelity_page import fidelity_report_html

    out = check_writable(out)
    return _write(out, fidelity_report_html(table))
