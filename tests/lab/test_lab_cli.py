"""``juggler lab`` commands (the sub-app juggler.cli.app registers)."""

from __future__ import annotations

from lab_helpers import lab
from typer.testing import CliRunner

from juggler.cli.lab import lab_app
from juggler.lab.image import GuestImage


def test_boot_rejects_a_bad_size_with_status_2() -> None:
    result = CliRunner().invoke(lab_app, ["boot", "--memory", "lots"])
    assert result.exit_code == 2
    assert "'lots' is not a size" in result.output


@lab
def test_build_prints_the_cached_image(guest_image: GuestImage) -> None:
    result = CliRunner().invoke(lab_app, ["build"])
    assert result.exit_code == 0, result.output
    assert f"guest image {guest_image.key} ({guest_image.kernel_release}) ready" in result.output
