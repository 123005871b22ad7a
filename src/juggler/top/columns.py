"""The columns of ``juggler top``: header, sort key, how a cell is written, and sorting.

One table drives the view, the key bindings, the footer and docs/top.md, so a
column cannot be added to one and forgotten in another. Headers follow
esxtop's memory panel where it has the same quantity (MEMSZ, SZTGT, MCTLSZ,
SWCUR, SWR/s, SWW/s, TCHD), so people who know esxtop read it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from juggler.top.data import VmRow
from juggler.units import format_size

Kind = Literal["text", "size", "rate", "slowdown"]


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


def format_value(value: object, kind: Kind) -> str:
    """A cell's text: sizes and rates in binary units (the header says ``/s``), ``-`` unknown."""
    if value is None:
        return "-"
    if kind == "size" or kind == "rate":
        return format_size(value)  # type: ignore[arg-type]
    if kind == "slowdown":
        return f"{value:.2f}x"
    text = str(value)
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def cells(row: VmRow) -> list[str]:
    """The row's cells, in column order."""
    return [format_value(getattr(row, col.field), col.kind) for col in COLUMNS]


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
