"""The top screen driven by Textual's pilot: sorting, the detail line, waiting, quitting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from juggler.metrics.store import RunStore
from juggler.top.app import TopApp
from juggler.top.data import RunReader


def _drive(path: Path, script: Callable[[TopApp, Pilot], Awaitable[None]]) -> TopApp:
    """Run the app headless at 160×40 on ``path`` and hand it to ``script``."""

    async def main() -> TopApp:
        app = TopApp(RunReader(path), refresh_s=0.2)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            await script(app, pilot)
        app.reader.close()
        return app

    return asyncio.run(main())


def _names(app: TopApp) -> list[str]:
    table = app.query_one(DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def _labels(app: TopApp) -> list[str]:
    return [str(col.label) for col in app.query_one(DataTable).columns.values()]


def _text(app: TopApp, widget: str) -> str:
    return str(app.query_one(widget, Static).render())


def test_keys_sort_the_rows(squeeze_run: Path) -> None:
    orders: list[tuple[str, list[str], str]] = []

    async def script(app: TopApp, pilot: Pilot) -> None:
        for key in ("n", "e", "e", "a", "r", "n", "b", "r", "s"):
            await pilot.press(key)
            await pilot.pause()
            sorted_by = next(label for label in _labels(app) if label[-1] in "▲▼")
            orders.append((key, _names(app), sorted_by))

    _drive(squeeze_run, script)
    # A holds more resident memory than B (531 vs 405 MiB), B has more guest available
    assert orders == [
        ("n", ["B", "A"], "NAME ▼"),  # NAME was already the sort: n reverses it
        ("e", ["A", "B"], "RES ▼"),  # numbers: largest first
        ("e", ["B", "A"], "RES ▲"),
        ("a", ["B", "A"], "GAVAIL ▼"),
        ("r", ["A", "B"], "GAVAIL ▲"),
        ("n", ["A", "B"], "NAME ▲"),
        ("b", ["A", "B"], "MCTLSZ ▼"),  # B's balloon is unknown: last both ways
        ("r", ["A", "B"], "MCTLSZ ▲"),
        ("s", ["A", "B"], "SWCUR ▼"),  # the next column after MCTLSZ
    ]


def test_the_screen_shows_the_header_rows_and_the_selected_vms_reason(squeeze_run: Path) -> None:
    seen: dict[str, str] = {}

    async def script(app: TopApp, pilot: Pilot) -> None:
        seen["header"] = _text(app, "#header")
        seen["keys"] = _text(app, "#keys")
        seen["detail A"] = _text(app, "#detail")
        await pilot.press("down")
        await pilot.pause(0.5)  # a refresh or two: the selection survives them
        seen["detail B"] = _text(app, "#detail")
        table = app.query_one(DataTable)
        seen["row B"] = " ".join(str(cell) for cell in table.get_row("B"))

    _drive(squeeze_run, script)
    assert "squeeze · policy juggler · backend sim · t 40s / 40s · finished" in seen["header"]
    assert "host 1 GiB" in seen["header"] and "over-commit 1.50x" in seen["header"]
    with RunStore.open(squeeze_run) as store:
        host = store.host_samples()
    some, full = (host.columns[f"host_psi_{k}_avg10"][-1] for k in ("some", "full"))
    assert some > 50  # squeeze's host is under pressure: the header shows the last sample's
    assert f"state {host.states[-1]}" in seen["header"]
    assert f"PSI some {some:.1f} full {full:.1f}" in seen["header"]
    assert "e RES" in seen["keys"] and "q quit" in seen["keys"]
    assert seen["detail A"].startswith("A: last decision at ")
    with RunStore.open(squeeze_run) as store:
        last_for_a = [d for d in store.decisions() if d.vm == "A"][-1]
    # the reason of A's last decision, as the run file has it (its first words)
    assert last_for_a.reason.split(";")[0][:30] in seen["detail A"]
    assert seen["detail B"] == "B: no decision yet"
    assert seen["row B"].startswith("B 768 MiB - ")  # SZTGT unknown without a balloon


def test_q_quits(squeeze_run: Path) -> None:
    states: list[bool] = []

    async def script(app: TopApp, pilot: Pilot) -> None:
        states.append(app.is_running)
        await pilot.press("q")
        await pilot.pause()
        states.append(app.is_running)

    app = _drive(squeeze_run, script)
    assert states == [True, False]
    assert app.error is None


def test_a_refresh_after_the_screen_closed_is_ignored(squeeze_run: Path) -> None:
    """The refresh timer can tick once more while the app closes (a race seen in CI)."""

    async def script(app: TopApp, pilot: Pilot) -> None:
        await pilot.press("q")
        await pilot.pause()

    app = _drive(squeeze_run, script)
    app.reader = RunReader(squeeze_run)
    app.refresh_data()  # the widgets are gone: nothing to draw, and no error
    app.action_reverse()
    app.reader.close()
    assert app.error is None


def test_a_missing_file_is_waited_for_and_a_foreign_one_ends_the_screen(tmp_path: Path) -> None:
    path = tmp_path / "later.sqlite"
    seen: list[str] = []

    async def script(app: TopApp, pilot: Pilot) -> None:
        seen.append(_text(app, "#header"))
        path.write_text("not a database\n")
        await pilot.pause(0.6)

    app = _drive(path, script)
    assert seen == [f"juggler top · waiting for {path} to appear …"]
    assert app.error is not None and "not a juggler run file" in str(app.error)
