"""The ``juggler top`` screen: a Textual app that redraws a :class:`RunReader`'s snapshot.

It holds no numbers of its own: each refresh asks the reader for the newest
snapshot, sorts the rows (``columns.sort_rows``) and redraws. The table is
rebuilt every time (a few dozen rows), keeping the highlighted VM, whose full
last reason is written under the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.console import JustifyMethod
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from juggler.errors import JugglerError
from juggler.render import format_rate
from juggler.top.columns import COLUMNS, Column, cells, column, sort_rows, visible_columns
from juggler.top.data import Header, RunReader, Snapshot
from juggler.units import format_duration, format_size


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def header_text(header: Header, path: str) -> Text:
    """The two lines above the table: the run, then the host."""
    if header.time_s is None:
        clock = "no sample yet"
    else:
        clock = f"t {format_duration(round(header.time_s, 1))}"
        if header.duration_s is not None:
            clock += f" / {format_duration(header.duration_s)}"
    status = "finished" if header.finished else "running"
    text = Text()
    text.append("juggler top ", style="bold")
    text.append(
        f"{header.scenario or '-'} · policy {header.policy or '-'} · "
        f"backend {header.backend or '-'} · {clock} · "
    )
    text.append(status, style="green" if header.finished else "bold yellow")
    text.append(f" · {path}\n", style="dim")
    state_style = {"high": "green", "soft": "yellow", "hard": "red", "low": "bold red"}
    text.append(
        f"host {format_size(header.host_memory_bytes)}  "
        f"available {format_size(header.host_available_bytes)}  state "
    )
    text.append(header.host_state or "-", style=state_style.get(header.host_state or "", ""))
    ratio = header.overcommit_ratio
    text.append(
        f"  over-commit {'-' if ratio is None else f'{ratio:.2f}x'}  "
        f"PSI some {_number(header.psi_some, '.1f')} full {_number(header.psi_full, '.1f')}  "
        f"host swap {format_size(header.host_swap_used_bytes)} "
        f"in {format_rate(header.host_swap_in_bytes_per_s)} "
        f"out {format_rate(header.host_swap_out_bytes_per_s)}"
    )
    return text


def keys_text(columns: tuple[Column, ...] = COLUMNS) -> str:
    """The footer: every key of the columns shown, as esxtop and top users expect them."""
    sort_keys = " ".join(f"{c.key} {c.header}" for c in columns if c.key)
    return f"sort: {sort_keys} · s next column · r reverse · ↑↓ select · q quit"


class TopApp(App[None]):
    """The live view of one run file.

    :param reader: the run file to follow.
    :param refresh_s: seconds between reads of the file.
    :param stop_when: checked at each refresh; the app exits when it returns True
        (``run_with_top`` uses it when the run it shows has failed).
    """

    TITLE = "juggler top"
    CSS = """
    #header { height: auto; }
    #vms { height: 1fr; }
    #detail { height: auto; max-height: 3; color: $text-muted; }
    #keys { height: auto; background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(c.key, f"sort_by('{c.field}')", c.header, show=False) for c in COLUMNS if c.key),
        Binding("s", "next_sort", "next column", show=False),
        Binding("r", "reverse", "reverse", show=False),
        Binding("q", "quit", "quit", show=False),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        reader: RunReader,
        refresh_s: float = 1.0,
        stop_when: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.reader = reader
        self.refresh_s = refresh_s
        self.stop_when = stop_when
        self.sort_field = "name"
        self.reverse = False
        self.snapshot: Snapshot | None = None
        #: a run-file error met while following; show_top raises it after the screen closes
        self.error: JugglerError | None = None
        self._selected: str | None = None
        #: the columns shown: those this run can fill (``visible_columns``), known once
        #: the first snapshot says the backend
        self.columns = visible_columns(None, ())

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        table: DataTable[Text] = DataTable(id="vms", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="detail")
        yield Static(keys_text(self.columns), id="keys")

    def on_mount(self) -> None:
        self._build_columns()
        self.refresh_data()
        self.set_interval(self.refresh_s, self.refresh_data)

    # ------------------------------------------------------------ actions

    def action_sort_by(self, field: str) -> None:
        """Sort by ``field``; pressing its key again reverses, as in esxtop. A column
        this run does not show (SLOW in a lab run) is not sorted by."""
        if field not in {c.field for c in self.columns}:
            return
        if field == self.sort_field:
            self.reverse = not self.reverse
        else:
            # numbers largest first (what top and esxtop show), names and reasons A to Z
            self.sort_field, self.reverse = field, column(field).kind != "text"
        self._build_columns()
        self._draw()

    def action_next_sort(self) -> None:
        fields = [c.field for c in self.columns]
        self.action_sort_by(fields[(fields.index(self.sort_field) + 1) % len(fields)])

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._build_columns()
        self._draw()

    # ------------------------------------------------------------ drawing

    def refresh_data(self) -> None:
        """Read the run file and redraw; leave on an error or when asked to stop."""
        if not self._showing():
            return
        if self.stop_when is not None and self.stop_when():
            self.exit()
            return
        try:
            snapshot = self.reader.poll()
        except JugglerError as err:
            self.error = err
            self.exit()
            return
        if snapshot is None:
            self.query_one("#header", Static).update(
                Text(f"juggler top · {self.reader.waiting or 'waiting'} …", style="bold yellow")
            )
            return
        self.snapshot = snapshot
        self._draw()

    def _build_columns(self) -> None:
        if not self._showing():
            return
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for col in self.columns:
            label = col.header
            if col.field == self.sort_field:
                label += " ▼" if self.reverse else " ▲"
            justify: JustifyMethod = "left" if col.kind == "text" else "right"
            table.add_column(Text(label, justify=justify), key=col.field)

    def _showing(self) -> bool:
        """Whether the screen with the table is up: a refresh timer can still tick
        while the app closes, after its widgets are gone."""
        return bool(self.query(DataTable))

    def _draw(self) -> None:
        if self.snapshot is None or not self._showing():
            return
        columns = visible_columns(self.snapshot.header.backend, self.snapshot.rows)
        if columns != self.columns:
            self.columns = columns
            self.query_one("#keys", Static).update(keys_text(columns))
            self._build_columns()
        table = self.query_one(DataTable)
        self.query_one("#header", Static).update(
            header_text(self.snapshot.header, str(self.reader.path))
        )
        rows = sort_rows(self.snapshot.rows, self.sort_field, self.reverse)
        selected = self._selected
        table.clear()
        for row in rows:
            style = "dim" if row.age_s else ""
            table.add_row(
                *(
                    Text(text, style=style, justify="left" if col.kind == "text" else "right")
                    for col, text in zip(self.columns, cells(row, self.columns), strict=True)
                ),
                key=row.name,
            )
        names = [row.name for row in rows]
        if selected in names:
            table.move_cursor(row=names.index(selected), animate=False)
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._selected = event.row_key.value
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        row = next(
            (r for r in (self.snapshot.rows if self.snapshot else ()) if r.name == self._selected),
            None,
        )
        if row is None:
            detail.update("")
            return
        text = f"{row.name}: "
        if row.reason is None:
            text += "no decision yet"
        else:
            text += f"last decision at {format_duration(round(row.reason_time_s or 0, 1))}: "
            text += row.reason
        if row.age_s:
            text += f"  (not seen for {format_duration(round(row.age_s, 1))})"
        detail.update(Text(text))
