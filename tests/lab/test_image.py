"""The guest image builder: archive formats, cache, contents, missing tools."""

from __future__ import annotations

import gzip
import shutil
import stat
from pathlib import Path

import pytest
from lab_helpers import lab

from juggler.errors import LabError, MissingToolError
from juggler.lab import image
from juggler.lab.archive import Cpio, deb_data
from juggler.lab.image import GuestImage, build_image, default_cache_root


def read_newc(blob: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """A slow, readable newc reader: name -> (mode, data, (rdevmajor, rdevminor))."""
    entries = {}
    offset = 0
    while True:
        assert blob[offset : offset + 6] == b"070701", f"bad magic at {offset}"
        fields = [int(blob[offset + 6 + 8 * i : offset + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        name_start = offset + 110
        name = blob[name_start : name_start + namesize - 1].decode()
        data_start = (name_start + namesize + 3) & ~3
        data = blob[data_start : data_start + size]
        offset = (data_start + size + 3) & ~3
        if name == "TRAILER!!!":
            assert offset == len(blob)
            return entries
        entries[name] = (mode, data, rdev)


def test_cpio_round_trip() -> None:
    cpio = Cpio()
    cpio.directory("bin")
    cpio.file("bin/tool", b"abcde", mode=0o755)
    cpio.symlink("bin/sh", "tool")
    cpio.char_device("dev/console", 5, 1)
    entries = read_newc(cpio.finish())
    assert stat.S_ISDIR(entries["bin"][0])
    assert entries["bin/tool"][1] == b"abcde"
    assert stat.S_IMODE(entries["bin/tool"][0]) == 0o755
    assert stat.S_ISLNK(entries["bin/sh"][0]) and entries["bin/sh"][1] == b"tool"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][2] == (5, 1)


def test_cpio_is_reproducible() -> None:
    def build() -> bytes:
        cpio = Cpio()
        cpio.file("init", b"#!/bin/sh\n")
        return cpio.finish()

    assert build() == build()


def test_deb_data_rejects_a_file_that_is_not_a_package(tmp_path: Path) -> None:
    bogus = tmp_path / "kernel.deb"
    bogus.write_bytes(b"not an ar archive")
    with pytest.raises(LabError, match=r"kernel.deb is not a Debian package \(no ar header\)"):
        deb_data(bogus)


def test_missing_tool_error_names_the_package() -> None:
    err = MissingToolError("qemu-system-x86_64", "qemu-system-x86", "to run lab VMs")
    assert str(err) == (
        "qemu-system-x86_64 is needed to run lab VMs but is not installed: run "
        "`apt-get install qemu-system-x86` (or scripts/setup-lab.sh)"
    )


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="needs apt-cache (Debian)")
def test_missing_busybox_names_busybox_static(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image, "BUSYBOX", tmp_path / "busybox")
    with pytest.raises(MissingToolError, match=r"apt-get install busybox-static"):
        build_image(tmp_path / "cache")


def test_cache_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUGGLER_LAB_CACHE", "/somewhere/lab")
    assert default_cache_root() == Path("/somewhere/lab")
    monkeypatch.delenv("JUGGLER_LAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert default_cache_root() == Path("/xdg/juggler/lab")


@lab
def test_image_holds_init_busybox_workload_and_modules_in_order(guest_image: GuestImage) -> None:
    entries = read_newc(gzip.decompress(guest_image.initrd.read_bytes()))
    assert entries["init"][1].startswith(b"#!/bin/busybox sh")
    assert stat.S_IMODE(entries["init"][0]) == 0o755
    assert entries["bin/busybox"][1][:4] == b"\x7fELF"
    assert entries["bin/workload"][1][:4] == b"\x7fELF"
    order = entries["etc/juggler/modules"][1].decode().split()
    for module in order:
        assert f"lib/modules/{module}.ko" in entries
    for before, after in [
        ("virtio_ring", "virtio"),
        ("virtio", "virtio_pci"),
        ("virtio_pci_legacy_dev", "virtio_pci"),
        ("virtio_pci_modern_dev", "virtio_pci"),
        ("virtio", "virtio_balloon"),
        ("virtio", "virtio_blk"),
    ]:
        assert order.index(before) < order.index(after), order
    assert guest_image.kernel.read_bytes()[0x202:0x206] == b"HdrS"  # a bzImage


@lab
def test_image_is_cached_by_inputs_and_force_rebuilds(
    guest_image: GuestImage,
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    (root / "debs").symlink_to(default_cache_root() / "debs")  # no second download
    first = build_image(root)
    assert first.key == guest_image.key  # same inputs, same key
    built_at = first.initrd.stat().st_mtime_ns
    assert build_image(root).initrd.stat().st_mtime_ns == built_at
    rebuilt = build_image(root, force=True)
    assert rebuilt.key == first.key
    assert rebuilt.initrd.read_bytes() == first.initrd.read_bytes()  # reproducible
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["debs", "kernel-package.json", first.key]
    )
