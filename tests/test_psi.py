from pathlib import Path

from juggler.psi import read_avg10


def test_some_and_full_avg10_are_read(tmp_path: Path) -> None:
    path = tmp_path / "memory.pressure"
    path.write_text(
        "some avg10=1.23 avg60=0.50 avg300=0.10 total=12345\n"
        "full avg10=0.40 avg60=0.20 avg300=0.05 total=6789\n"
    )
    assert read_avg10(path) == (1.23, 0.40)


def test_no_file_is_unknown_not_zero(tmp_path: Path) -> None:
    assert read_avg10(tmp_path / "absent") == (None, None)
