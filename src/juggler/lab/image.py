"""Build the lab's guest: a Debian kernel and a busybox initramfs with the workload.

Why this shape: a stock Debian kernel boots in seconds under TCG and has the
real ``virtio_balloon`` driver, so the lab balloons a real Linux guest; busybox
gives the guest a shell, ``insmod``, ``mkswap`` and ``swapon`` in one static
binary; the workload is a small static C program (``guest/workload.c``). No
root file system, no network, no package manager inside the guest.

Everything is cached under ``~/.cache/juggler/lab/<key>``, the key hashing every
input (kernel package and version, busybox version, gcc version, the init
script and the workload source), so a changed input rebuilds and an unchanged
one costs nothing. The kernel ``.deb`` is fetched with ``apt-get download``
(no root needed) and unpacked in Python; the initramfs is written in Python.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from juggler.errors import LabError, MissingToolError
from juggler.lab.archive import Cpio, deb_data, decompress_module, tar_reader

log = logging.getLogger(__name__)

#: bump when the image layout changes, so old cache entries are not reused
IMAGE_FORMAT = 1
#: the kernel flavours tried, smallest first (``cloud`` lacks most hardware drivers)
KERNEL_METAPACKAGES = ("linux-image-cloud-amd64", "linux-image-amd64")
#: modules the guest needs; their dependencies are added from each module's modinfo
GUEST_MODULES = ("virtio_pci", "virtio_balloon", "virtio_blk")
BUSYBOX = Path("/bin/busybox")
#: files apt rewrites when its package lists change
_APT_STATE = (Path("/var/lib/apt/lists"), Path("/var/cache/apt/pkgcache.bin"))


@dataclass(frozen=True)
class GuestImage:
    """A built guest: what ``qemu -kernel/-initrd`` needs."""

    #: the kernel (bzImage)
    kernel: Path
    #: the gzipped newc initramfs holding busybox, the init script, modules and workload
    initrd: Path
    #: the cache key (hash of every input)
    key: str
    #: the guest kernel's release (``uname -r`` inside the guest)
    kernel_release: str
    #: the inputs the key was made from
    inputs: dict[str, str]


def default_cache_root() -> Path:
    """Where images are kept: ``$JUGGLER_LAB_CACHE``, else ``$XDG_CACHE_HOME/juggler/lab``,
    else ``~/.cache/juggler/lab``."""
    if env := os.environ.get("JUGGLER_LAB_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "juggler" / "lab"


def build_image(
    cache_root: Path | None = None, *, force: bool = False, kernel_package: str | None = None
) -> GuestImage:
    """Return the guest image, building it first when its inputs changed.

    :param cache_root: where images and downloaded packages are kept.
    :param force: rebuild even when a cached image matches.
    :param kernel_package: a ``linux-image-<release>`` package to use instead of the
        current one of :data:`KERNEL_METAPACKAGES`.
    :raise MissingToolError: When apt, busybox-static or gcc/libc6-dev is missing.
    :raise LabError: When the kernel package cannot be found, fetched or unpacked.
    """
    root = cache_root or default_cache_root()
    package, version = _resolve_kernel_cached(kernel_package, root)
    inputs = {
        "format": str(IMAGE_FORMAT),
        "kernel_package": package,
        "kernel_version": version,
        "busybox": _busybox_version(),
        "gcc": _run(["gcc", "-dumpfullversion"], "gcc", "to compile the guest workload").strip(),
        "init": _sha256(_guest_source("init")),
        "workload": _sha256(_guest_source("workload.c")),
    }
    key = _sha256(json.dumps(inputs, sort_keys=True).encode())[:16]
    final = root / key
    manifest = final / "manifest.json"
    if manifest.exists() and not force:
        log.debug("guest image %s is cached", key)
        return _image(final, key, inputs, json.loads(manifest.read_text())["kernel_release"])
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    deb = _download(package, version, root / "debs")
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        work = Path(tmp)
        release = _unpack_kernel(deb, work)
        (work / "manifest.json").write_text(
            json.dumps({"kernel_release": release, "inputs": inputs}, indent=2) + "\n"
        )
        if (final / "manifest.json").exists() and not force:
            log.info("guest image %s was built meanwhile by another process", key)
        else:
            if final.exists():
                shutil.rmtree(final)
            os.replace(work, final)
            work.mkdir()  # TemporaryDirectory removes what it created
    log.info("built guest image %s (%s) in %.1f s", key, release, time.monotonic() - started)
    return _image(final, key, inputs, release)


def _image(directory: Path, key: str, inputs: dict[str, str], release: str) -> GuestImage:
    return GuestImage(directory / "vmlinuz", directory / "initrd.img", key, release, inputs)


def _unpack_kernel(deb: Path, work: Path) -> str:
    """Write ``vmlinuz`` and ``initrd.img`` into ``work``; return the kernel release."""
    with deb_data(deb) as data:
        names = data.getnames()
        kernels = [n for n in names if re.search(r"/boot/vmlinuz-[^/]+$", n)]
        if not kernels:
            raise LabError(f"{deb.name} holds no /boot/vmlinuz-*; is it a linux-image package?")
        release = kernels[0].rsplit("vmlinuz-", 1)[1]
        read = tar_reader(data)
        (work / "vmlinuz").write_bytes(read(kernels[0]))
        modules = _modules_in_order(names, read)
    workload = _compile_workload(work)
    cpio = Cpio()
    for directory in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "etc/juggler", "lib"):
        cpio.directory(directory)
    cpio.directory("lib/modules")
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3, mode=0o666)
    cpio.file("init", _guest_source("init"), mode=0o755)
    cpio.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.file("bin/workload", workload, mode=0o755)
    for name, blob in modules:
        cpio.file(f"lib/modules/{name}.ko", blob)
    cpio.file("etc/juggler/modules", "".join(f"{name}\n" for name, _ in modules).encode())
    with (work / "initrd.img").open("wb") as out:
        out.write(gzip.compress(cpio.finish(), compresslevel=6, mtime=0))
    return release


def _modules_in_order(names: list[str], read: Callable[[str], bytes]) -> list[tuple[str, bytes]]:
    """The guest's modules and their dependencies, each after what it depends on.

    Dependencies come from each module's own ``.modinfo`` (``depends=``), since a
    package carries no ``modules.dep`` (depmod writes it at install time).
    """
    paths = {}
    for name in names:
        match = re.search(r"/lib/modules/[^/]+/kernel/.*/([^/]+)\.ko(\.xz)?$", name)
        if match:
            paths[match.group(1).replace("-", "_")] = name
    ordered: list[tuple[str, bytes]] = []
    visiting: set[str] = set()

    def visit(module: str) -> None:
        if module in visiting or any(module == done for done, _ in ordered):
            return
        if module not in paths:
            raise LabError(f"the kernel package has no module {module} (needed by the guest)")
        visiting.add(module)
        blob = decompress_module(paths[module], read(paths[module]))
        found = re.search(rb"(?:^|\0)depends=([^\0]*)\0", blob)
        for dependency in filter(None, (found.group(1).decode() if found else "").split(",")):
            visit(dependency.replace("-", "_"))
        ordered.append((module, blob))

    for module in GUEST_MODULES:
        visit(module)
    return ordered


def _compile_workload(work: Path) -> bytes:
    """Compile ``guest/workload.c`` with ``gcc -static -O2``.

    :raise MissingToolError: When gcc or the static C library (libc6-dev) is missing.
    """
    source = work / "workload.c"
    source.write_bytes(_guest_source("workload.c"))
    binary = work / "workload"
    if shutil.which("gcc") is None:
        raise MissingToolError("gcc", "gcc libc6-dev", "to compile the guest workload")
    result = subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-o", str(binary), str(source), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if "cannot find -lc" in result.stderr or "stdio.h" in result.stderr:
            raise MissingToolError("libc.a", "libc6-dev", "to link the guest workload statically")
        raise LabError(f"compiling the guest workload failed:\n{result.stderr.strip()}")
    data = binary.read_bytes()
    source.unlink()
    binary.unlink()
    return data


def _resolve_kernel_cached(package: str | None, root: Path) -> tuple[str, str]:
    """:func:`_resolve_kernel`, remembered until apt's package lists change.

    ``apt-cache`` takes seconds, and the answer changes only on ``apt-get update``.
    """
    stamp = max((p.stat().st_mtime_ns for p in _APT_STATE if p.exists()), default=0)
    memo = root / "kernel-package.json"
    wanted = {"stamp": stamp, "requested": package}
    try:
        saved = json.loads(memo.read_text())
        if {k: saved.get(k) for k in wanted} == wanted:
            return saved["package"], saved["version"]
    except (OSError, ValueError, KeyError):
        pass
    resolved, version = _resolve_kernel(package)
    root.mkdir(parents=True, exist_ok=True)
    memo.write_text(json.dumps({**wanted, "package": resolved, "version": version}))
    return resolved, version


def _resolve_kernel(package: str | None) -> tuple[str, str]:
    """The kernel package to use and its candidate version, from apt's cache."""
    if package is None:
        for meta in KERNEL_METAPACKAGES:
            out = _run(["apt-cache", "depends", meta], "apt", "to find the guest kernel")
            found = re.search(r"Depends: (linux-image-[0-9][^\s]*)", out)
            if found:
                package = found.group(1)
                break
        else:
            raise LabError(
                f"apt knows none of {', '.join(KERNEL_METAPACKAGES)}: run `apt-get update` "
                "(Debian main must be in the sources)"
            )
    out = _run(["apt-cache", "show", "--no-all-versions", package], "apt", "to find the kernel")
    found = re.search(r"^Version: (\S+)", out, re.MULTILINE)
    if not found:
        raise LabError(f"apt knows no version of {package}: run `apt-get update`")
    return package, found.group(1)


def _download(package: str, version: str, directory: Path) -> Path:
    """The package's ``.deb``, fetched into ``directory`` unless already there."""
    directory.mkdir(parents=True, exist_ok=True)
    epochless = version.split(":", 1)[-1]
    existing = sorted(directory.glob(f"{package}_{epochless}_*.deb"))
    if existing:
        return existing[0]
    log.info("downloading %s %s", package, version)
    _run(
        ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"{package}={version}"],
        "apt",
        "to download the guest kernel",
        cwd=directory,
    )
    existing = sorted(directory.glob(f"{package}_{epochless}_*.deb"))
    if not existing:
        raise LabError(f"apt-get download {package}={version} left no .deb in {directory}")
    return existing[0]


def _busybox_version() -> str:
    """The version of the static busybox, refusing a dynamically linked one."""
    if not BUSYBOX.exists():
        raise MissingToolError(str(BUSYBOX), "busybox-static", "as the guest's userland")
    if not _is_static_elf(BUSYBOX):
        raise MissingToolError(
            "a static /bin/busybox", "busybox-static", "as the guest's userland (it has no libc)"
        )
    out = _run(["dpkg-query", "-W", "-f=${Version}", "busybox-static"], "dpkg", "for busybox")
    return out.strip()


def _is_static_elf(path: Path) -> bool:
    """Whether an ELF64 executable has no program interpreter (is statically linked)."""
    with path.open("rb") as handle:
        header = handle.read(64)
        if header[:5] != b"\x7fELF\x02":
            return False
        phoff = struct.unpack_from("<Q", header, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def _run(command: list[str], package: str, why: str, cwd: Path | None = None) -> str:
    """Run a command and return its output.

    :raise MissingToolError: When the program is not installed.
    :raise LabError: When it fails; the message holds its error output.
    """
    if shutil.which(command[0]) is None:
        raise MissingToolError(command[0], package, why)
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=cwd, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LabError(f"`{' '.join(command)}` failed: {err}") from err
    if result.returncode != 0:
        raise LabError(f"`{' '.join(command)}` failed:\n{result.stderr.strip()}")
    return result.stdout


def _guest_source(name: str) -> bytes:
    return resources.files("juggler.lab").joinpath("guest", name).read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
