"""The lab's data disk holds data: no page of it is zero-filled.

A zero-filled page of guest page cache is one a Linux host (6.12 and later)
swaps without I/O and without counting it, so a sparse disk made the lab's page
cache free to swap (see juggler.lab.vm.write_data_disk).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from juggler.lab.vm import write_data_disk

PAGE = 4096


@pytest.mark.parametrize("size", [PAGE, 3 * 1024 * 1024 + 5 * PAGE, 4 * 1024 * 1024])
def test_every_page_of_the_data_disk_is_its_own_and_none_is_zero(size: int, tmp_path: Path) -> None:
    disk = tmp_path / "data.raw"
    write_data_disk(disk, size)
    assert disk.stat().st_size == size
    pages = np.fromfile(disk, dtype=np.uint64).reshape(-1, PAGE // 8)
    assert not (pages == 0).all(axis=1).any()
    # each page differs from every other (its number), so no two could be merged
    assert len(np.unique(pages[:, 0])) == size // PAGE
