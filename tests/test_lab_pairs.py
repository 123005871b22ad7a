"""benchmarks/lab_pairs.py over the lab pairs kept in the repository: the figures
docs/lab.md quotes come from this script, so it must keep reading them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "benchmarks" / "lab-pairs"


def _run(*directories: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lab_pairs.py"), *map(str, directories)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pooled_pairs_say_which_run_went_first():
    out = _run(PAIRS / "quiet", PAIRS / "static-first")
    rows = [
        line for line in out.splitlines() if line.startswith("| quiet/") or "static-first/" in line
    ]
    assert len(rows) == 6
    firsts = [row.split("|")[2].strip() for row in rows]
    assert firsts == ["juggler"] * 3 + ["static"] * 3
    medians = next(line for line in out.splitlines() if line.startswith("median accesses/s"))
    # one median per guest and one for all four together
    assert [word for word in medians.split()[3:] if word.isalpha()] == ["A", "B", "C", "D", "all"]


def test_a_pair_that_lost_a_guest_is_left_out():
    # p10's juggler run lost A at 57 s (the lab's memory cgroup OOM-killed its QEMU)
    out = _run(PAIRS / "alternating")
    rows = [line for line in out.splitlines() if line.startswith("| alternating/")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "alternating/p7",
        "alternating/p8",
        "alternating/p9",
        "alternating/p10",
    ]
    assert "left out: juggler run lost A stopped answering at 57 s" in rows[-1]
    assert all("left out" not in row for row in rows[:-1])


def test_a_directory_without_pairs_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "lab_pairs.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "no pN-juggler.sqlite" in done.stderr
    assert "Traceback" not in done.stderr
