"""``juggler report``, ``simulate --report`` and ``compare --report``: pages written,
user errors one clear line with exit status 2."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from juggler.cli import app
from juggler.compare import METRICS

runner = CliRunner()


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_report_draws_a_run_into_one_self_contained_page(
    seed_run: tuple[Path, Path], tmp_path: Path
) -> None:
    run, _ = seed_run
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    for section in ("summary", "findings", "host", "decisions", "vm-A", "vm-D", "events"):
        assert f'id="{section}"' in html
    # nothing is fetched: no external URL, script or stylesheet
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    assert html.count('<svg class="chart"') == 2 + 1 + 4 * 3
    # every non-trivial finding's window is a link target in its VM's chart
    for index in re.findall(r'<tr id="finding-(\d+)">', html):
        if f'href="#win-{index}"' in html:
            assert f'id="win-{index}"' in html
    assert 'href="#finding-1"' in html
    assert len(html) < 2_000_000


def test_report_defaults_to_the_run_files_name(seed_run: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "copy.sqlite"
    run.write_bytes(seed_run[0].read_bytes())
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy.html").is_file()


def test_a_missing_run_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["report", str(tmp_path / "nope.sqlite"), "-o", str(tmp_path / "x.html")]
    )
    assert result.exit_code == 2
    assert _error_line(result.output) == f"error: {tmp_path / 'nope.sqlite'}: no such run file"


def test_a_file_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    result = runner.invoke(app, ["report", str(other), "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert "not a juggler run file" in _error_line(result.output)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("a-file/report.html", "a-file is not a directory"),
        (".", "is a directory; give a file name such as report.html"),
    ],
)
def test_an_unwritable_output_is_one_line_and_exit_2(
    seed_run: tuple[Path, Path], tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / target
    result = runner.invoke(app, ["report", str(seed_run[0]), "-o", str(out)])
    assert result.exit_code == 2
    assert message in _error_line(result.output)


def test_simulate_refuses_an_unwritable_report_before_simulating(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    run = tmp_path / "run.sqlite"
    result = runner.invoke(
        app,
        [
            "simulate",
            "-q",
            "-d",
            "10s",
            "-o",
            str(run),
            "--report",
            str(tmp_path / "a-file" / "r.html"),
        ],
    )
    assert result.exit_code == 2
    assert "cannot write the report" in _error_line(result.output)
    assert not run.exists()


def test_simulate_json_stays_json_with_a_report(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = runner.invoke(
        app,
        [
            "simulate",
            "-q",
            "-d",
            "20s",
            "-o",
            str(tmp_path / "r.sqlite"),
            "--json",
            "--report",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and '"policy"' in result.stdout
    assert result.stdout.lstrip().startswith("{")


def test_compare_report_has_a_bar_chart_per_metric_the_tables_and_the_run_files(
    compare_report: tuple[Path, Path],
) -> None:
    where, html_path = compare_report
    html = html_path.read_text()
    assert html.count('<svg class="bars"') == len(METRICS)
    assert html.count('class="compare-table"') == 2
    # two bars per scenario per metric, but n/a for the excess over the oracle (which did
    # not run here) and, on host-swap (no VM has a balloon), for the two reversal rates
    assert len(re.findall(r'<rect class="bar', html)) == (len(METRICS) - 1) * 2 * 2 - 2 * 2
    links = re.findall(r'<a href="([^"#]+\.sqlite)"', html)
    assert sorted(links) == sorted(p.name for p in where.glob("*.sqlite")) and len(links) == 4
