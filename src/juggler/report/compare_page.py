"""``compare``'s report: a grouped bar chart per metric (policies side by side per
scenario, means over seeds), the table, and a link to each run file.

The numbers are :func:`juggler.compare.aggregate`'s, the same as the terminal
table's; best cells (lowest, ties within 1%) are bold in the table and
outlined in the charts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from juggler.compare import METRICS, aggregate, best_marks
from juggler.report.bars import bar_legend, grouped_bars
from juggler.report.page import html_page
from juggler.report.svg import byte_step, nice_step
from juggler.units import MIB, format_duration, format_size


@dataclass(frozen=True)
class MetricView:
    """How one compared metric is drawn: heading, value and tick formats, tick step and
    the y range when every value is 0."""

    heading: str
    fmt: Callable[[float], str]
    tick_fmt: Callable[[float], str]
    step: Callable[[float], float] = nice_step
    floor: float = 1.0


def _times(value: float) -> str:
    return f"{value:.3f}×"


def _count(value: float) -> str:
    return f"{value:g}"


def _bytes(value: float) -> str:
    return format_size(value)


def _count_step(span: float) -> float:
    """Counts tick in whole numbers."""
    return max(1.0, nice_step(span))


def _rate(value: float) -> str:
    return f"{value:.1f}"


def _excess(value: float) -> str:
    return f"{value:+.3f}"


def _seconds(value: float) -> str:
    return format_duration(round(value, 1))


_VIEWS: dict[str, MetricView] = {
    "mean_slowdown": MetricView("mean slowdown", _times, lambda v: f"{v:g}×"),
    "worst_slowdown": MetricView("worst slowdown", _times, lambda v: f"{v:g}×"),
    "guest_swap_bytes": MetricView("guest swap (in + out)", _bytes, _bytes, byte_step, MIB),
    "host_swap_bytes": MetricView("host swap (in + out)", _bytes, _bytes, byte_step, MIB),
    "balloon_moved_bytes": MetricView("balloon moved", _bytes, _bytes, byte_step, MIB),
    "seconds_hard_low": MetricView("time in hard + low", _seconds, _seconds),
    "reservation_violations": MetricView(
        "reservation violations (samples)", _count, _count, _count_step
    ),
    "guest_oom": MetricView("guest OOM kills", _count, _count, _count_step),
    "reversals_per_vm_per_10min": MetricView(
        "balloon reversals per VM per 10 min (mean)", _rate, _rate
    ),
    "reversals_max_vm_per_10min": MetricView(
        "balloon reversals per 10 min (the VM with most)", _rate, _rate
    ),
    "oom_rescues": MetricView("OOM rescues by the guard", _count, _count, _count_step),
    "host_in_use_bytes": MetricView(
        "host memory in use (time average)", _bytes, _bytes, byte_step, MIB
    ),
    "excess_slowdown": MetricView("slowdown over the oracle's", _excess, _excess, floor=0.01),
}


def _href(run: str, base: Path) -> str:
    """A link to a run file relative to the report (absolute when on another drive)."""
    try:
        return os.path.relpath(Path(run).resolve(), base.resolve())
    except ValueError:
        return Path(run).resolve().as_uri()


def compare_report_html(rows: list[dict[str, Any]], seeds: int, out_dir: Path) -> str:
    """The page for ``compare``'s result rows; run-file links are relative to ``out_dir``."""
    table = aggregate(rows)
    scenarios = list(table)
    policies = list(dict.fromkeys(p for by_policy in table.values() for p in by_policy))
    marks = {scenario: best_marks(by_policy) for scenario, by_policy in table.items()}
    charts = []
    for metric in METRICS:
        view = _VIEWS[metric]
        values = {s: {p: entry.get(metric) for p, entry in table[s].items()} for s in scenarios}
        best = {s: marks[s][metric] for s in scenarios}
        charts.append(
            f'<section class="metric" id="metric-{metric}"><h3>{escape(view.heading)}</h3>'
            + grouped_bars(
                view.heading,
                scenarios,
                policies,
                values,
                view.fmt,
                best,
                step=view.step,
                tick_fmt=view.tick_fmt,
                floor=view.floor,
            )
            + "</section>"
        )
    tables = []
    for scenario in scenarios:
        head = "".join(f"<th>{escape(_VIEWS[m].heading)}</th>" for m in METRICS)
        policy_rows = []
        for policy, entry in table[scenario].items():
            cells = []
            for metric in METRICS:
                value = entry[metric]
                text = "-" if value is None else _VIEWS[metric].fmt(value)
                cls = ' class="best"' if policy in marks[scenario][metric] else ""
                cells.append(f"<td{cls}>{escape(text)}</td>")
            runs = f"{entry['runs']} ok"
            if entry["failed"]:
                runs += f", {entry['failed']} failed"
            policy_rows.append(
                f"<tr><td class=l>{escape(policy)}</td>{''.join(cells)}<td>{escape(runs)}</td></tr>"
            )
        tables.append(
            f'<h3>{escape(scenario)}</h3><table class="compare-table"><tr><th class=l>policy'
            f"</th>{head}<th>runs</th></tr>{''.join(policy_rows)}</table>"
        )
    run_rows = "".join(
        f"<tr><td class=l>{escape(r['scenario'])}</td><td class=l>{escape(r['policy'])}</td>"
        f'<td>{r["seed"]}</td><td class=l><a href="{escape(_href(r["run"], out_dir))}">'
        f"{escape(r['run'])}</a></td><td class=l>{escape(r['error'] or '')}</td></tr>"
        for r in rows
    )
    body = (
        "<h1>juggler compare</h1>"
        f'<p class="meta">{len(scenarios)} scenario{"s" if len(scenarios) != 1 else ""} × '
        f"{len(policies)} policies × {seeds} seed{'s' if seeds != 1 else ''}; means over "
        "seeds; lower is better in every chart and column; the best is bold (outlined in "
        "the charts), ties within 1%.</p>"
        '<nav><a href="#charts">charts</a><a href="#tables">tables</a><a href="#runs">run files'
        "</a></nav>"
        f'<section id="charts"><h2>Policies side by side</h2>{bar_legend(policies)}'
        f"{''.join(charts)}</section>"
        f'<section id="tables"><h2>Tables</h2>{"".join(tables)}</section>'
        '<section id="runs"><h2>Run files</h2><p class="note-text">Each is a SQLite run file: '
        "<code>juggler report FILE -o FILE.html</code> draws one, "
        "<code>juggler diagnose FILE</code> explains it.</p>"
        '<table id="runs-table"><tr><th class=l>scenario</th><th class=l>policy</th>'
        f"<th>seed</th><th class=l>run file</th><th class=l>error</th></tr>{run_rows}</table>"
        "</section>"
    )
    return html_page("juggler compare", body)
