"""diagnose's accuracy on the incident suite (``tests/incidents/*.toml``, or the
files given): each incident is simulated, diagnosed from what a real host observes,
and scored against the cause it was built to have, on the windows in which the
simulator's truth says the VM really suffered. Prints precision and recall per
cause, every wrong window, and the share of suffering windows whose primary cause
was right. Run by hand: ``python benchmarks/diagnose_accuracy.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.diagnose.scoring import INCIDENTS, format_table, score_incident


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="incident TOML files")
    parser.add_argument(
        "--seeds", type=int, default=1, help="seeds per incident: its own, +1, ... (default 1)"
    )
    args = parser.parse_args()
    files = args.files or sorted(INCIDENTS.glob("*.toml"))
    outcomes = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for path, offset in [(p, k) for k in range(args.seeds) for p in files]:
            result = score_incident(path, Path(tmp), offset)
            outcomes += result.outcomes
            wrong = [o for o in result.outcomes if not o.correct or not o.neighbours_ok]
            mark = "ok" if not wrong else f"{len(wrong)} wrong"
            print(f"{result.name:40s} {len(result.outcomes):3d} scored  {mark}")
            for o in wrong:
                print(
                    f"    {o.vm} {o.start_s:g}-{o.end_s:g} s: expected {o.expected}"
                    f"{' ' + ','.join(o.neighbours_expected) if o.neighbours_expected else ''}"
                    f", diagnosed {o.diagnosed}"
                    f"{' ' + ','.join(o.neighbours_named) if o.neighbours_named else ''}"
                )
            for note in result.notes:
                print(f"    note: {note}")
    print()
    print(format_table(outcomes))
    print(f"{len(files)} incidents × {args.seeds} seed(s) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
