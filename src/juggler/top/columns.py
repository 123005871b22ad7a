"""The columns of ``juggler top``: header, sort key, how a cell is written, and sorting.

One table drives the view, the key bindings, the footer and docs/top.md, so a
column cannot be added to one and forgotten in another. Headers follow
esxtop's memory panel where it has the same quantity (MEMSZ, SZTGT, MCTLSZ,
SWCUR, SWR/s, SWW/s, TCHD), so people who know esxtop read it at once.

Which of the "how much did it wait" columns show depends on the run
(:func:`visible_columns`): SLOW for simulated runs (only the simulator knows
slowdown), P99 and ACC/s for lab runs (the guest workload's own reports), so a
column that can only ever read ``-`` takes no room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from juggler.render import format_latency
from juggler.top.data import VmRow
from juggler.units import format_size

Kind = Literal["text", "size", "rate", "slowdown", "latency", "count"]


@dataclass(frozen=True)
class Column:
    #: the VmRow attribute shown
    field: str
    header: str
    #: the key that sorts by this column (None: reached with ``s`` only)
    key: str | None
    kind: Kind
    #: what it is, for the footer and the docs
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("name", "NAME", "n", "text", "VM name"),
    Column("configured_bytes", "MEMSZ", "m", "size", "configured memory"),
    Column("target_bytes", "SZTGT", "t", "size", "target: configured − balloon target"),
    Column("resident_bytes", "RES", "e", "size", "resident on the host"),
    Column("balloon_bytes", "MCTLSZ", "b", "size", "balloon size"),
    Column("host_swapped_bytes", "SWCUR", "h", "size", "swapped out by the host"),
    Column("host_swap_in_bytes_per_s", "SWR/s", "i", "rate", "host swap-in (read) rate"),
    Column("host_swap_out_bytes_per_s", "SWW/s", "o", "rate", "host swap-out (write) rate"),
    Column("guest_swap_in_bytes_per_s", "GSWIN/s", "I", "rate", "guest swap-in rate"),
    Column("guest_swap_out_bytes_per_s", "GSWOUT/s", "O", "rate", "guest swap-out rate"),
    Column("guest_available_bytes", "GAVAIL", "a", "size", "guest MemAvailable"),
    Column("working_set_estimate_bytes", "TCHD", "w", "size", "working-set estimate"),
    Column("slowdown", "SLOW", "l", "slowdown", "slowdown (simulated runs)"),
    Column(
        "workload_latency_p99_seconds",
        "P99",
        "p",
        "latency",
        "workload's p99 access latency (lab runs)",
    ),
    Column("workload_accesses_per_s", "ACC/s", "c", "count", "workload accesses/s (lab runs)"),
    Column("reason", "REASON", None, "text", "last decision's reason"),
)

#: the longest reason drawn in a cell; the full text is under the table
REASON_WIDTH = 36


def column(field: str) -> Column:
    """The column showing ``field``.

    :raise KeyError: When no column shows it.
    """
    for col in COLUMNS:
        if col.field == field:
            return col
    raise KeyError(f"no column shows {field!r}; columns: {', '.join(c.field for c in COLUMNS)}")


#: the columns only some runs can fill: shown when the backend can, or a row does
_SLOWDOWN_FIELDS = ("slowdown",)
_WORKLOAD_FIELDS = ("workload_latency_p99_seconds", "workload_accesses_per_s")


def visible_columns(backend: str | None, rows: Sequence[VmRow]) -> tuple[Column, ...]:
    """The columns worth showing for a run: SLOW for the simulator, P99 and ACC/s for the
    lab, decided by the backend before any value arrives (so the table does not jump
    when the first workload report comes) or by any row having a value."""

    def known(fields: tuple[str, ...]) -> bool:
        return any(getattr(row, f) is not None for row in rows for f in fields)

    hide: set[str] = set()
    if backend != "sim" and not known(_SLOWDOWN_FIELDS):
        hide.update(_SLOWDOWN_FIELDS)
    if backend != "qemu" and not known(_WORKLOAD_FIELDS):
        hide.update(_WORKLOAD_FIELDS)
    return tuple(c for c in COLUMNS if c.field not in hide)


def format_value(value: object, kind: Kind) -> str:
    """A cell's text: sizes and rates in binary units (the header says ``/s``), ``-`` unknown."""
    if value is None:
        return "-"
    if kind == "size" or kind == "rate":
        return format_size(value)  # type: ignore[arg-type]
    if kind == "slowdown":
        return f"{value:.2f}x"
    if kind == "latency":
        return format_latency(float(value), compact=True)  # type: ignore[arg-type]
    if kind == "count":
        count = float(value)  # type: ignore[arg-type]
        return f"{count / 1000:.1f}k" if count >= 10_000 else f"{count:.0f}"
    text = str(value)
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def cells(row: VmRow, columns: Sequence[Column] = COLUMNS) -> list[str]:
    """The row's cells, in the order of ``columns``."""
    return [format_value(getattr(row, col.field), col.kind) for col in columns]


def sort_rows(rows: Sequence[VmRow], field: str, reverse: bool = False) -> list[VmRow]:
    """Rows ordered by ``field``; unknown values always last, ties by name.

    Unknown last in both directions: a reversed sort is asked for the largest
    values, and a VM that reports nothing is not among them.
    """
    known = [r for r in rows if getattr(r, field) is not None]
    unknown = [r for r in rows if getattr(r, field) is None]
    known.sort(key=lambda r: r.name)
    known.sort(key=lambda r: getattr(r, field), reverse=reverse)
    return known + sorted(unknown, key=lambda r: r.name)
