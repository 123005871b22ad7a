"""Where top's test scenarios live."""

from __future__ import annotations

from pathlib import Path

#: a 40 s story on a 1 GiB host: A grows and is ballooned, B has no balloon driver
SQUEEZE = Path(__file__).parent / "data" / "squeeze.toml"
