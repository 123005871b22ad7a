"""The two archive formats the image builder meets, in pure Python.

A Debian package (``ar`` holding ``data.tar.xz``) is read to take the kernel and
its modules out of it, and the initramfs is written as a ``newc`` cpio archive.
Doing both in Python means the lab needs neither ``dpkg -x`` as root nor the
``cpio`` package, and the initramfs is byte-for-byte reproducible (every mtime
is 0, entries in a fixed order), which keeps the image cache key honest.
"""

from __future__ import annotations

import gzip
import io
import lzma
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

from juggler.errors import LabError

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


def deb_data(deb: Path) -> tarfile.TarFile:
    """Open the ``data.tar.*`` member of a ``.deb`` as a tar archive.

    :raise LabError: When the file is not a Debian package, or its data is
        compressed in a way Python cannot read (zstd).
    """
    blob = deb.read_bytes()
    if not blob.startswith(_AR_MAGIC):
        raise LabError(f"{deb} is not a Debian package (no ar header); delete it and retry")
    offset = len(_AR_MAGIC)
    while offset + _AR_HEADER <= len(blob):
        header = blob[offset : offset + _AR_HEADER]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = offset + _AR_HEADER
        if name.startswith("data.tar"):
            # decompressed once, in memory, so that reading members in any order is cheap
            # (a compressed tar stream is decompressed again from the start at every seek back)
            return tarfile.open(
                fileobj=io.BytesIO(_decompress(deb, name, blob[start : start + size]))
            )
        offset = start + size + (size & 1)
    raise LabError(f"{deb} has no data.tar member; delete it and retry")


def _decompress(deb: Path, name: str, data: bytes) -> bytes:
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name == "data.tar":
        return data
    raise LabError(f"{deb}: {name} is compressed in a way Python cannot read (not xz or gzip)")


def decompress_module(name: str, data: bytes) -> bytes:
    """A kernel module's ELF bytes, whether stored plain (``.ko``) or as ``.ko.xz``.

    busybox ``insmod`` loads only plain modules, so compressed ones are
    decompressed at build time.

    :raise LabError: When the module is compressed another way (zstd, gzip).
    """
    if name.endswith(".ko"):
        return data
    if name.endswith(".ko.xz"):
        return lzma.decompress(data)
    raise LabError(f"kernel module {name}: compression not supported (only .ko and .ko.xz)")


class Cpio:
    """A ``newc`` cpio archive built in memory (the format the kernel unpacks).

    Parent directories must be added before their contents; :meth:`finish`
    writes the trailer and returns the bytes.
    """

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 300000

    def directory(self, path: str, mode: int = 0o755) -> None:
        self._entry(path, stat.S_IFDIR | mode, b"")

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(path, stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(path, stat.S_IFCHR | mode, b"", rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"", trailer=True)
        return self._out.getvalue()

    def _entry(
        self,
        path: str,
        mode: int,
        data: bytes,
        rdev: tuple[int, int] = (0, 0),
        trailer: bool = False,
    ) -> None:
        name = path.lstrip("/").encode() + b"\0"
        self._ino += 1
        fields = (
            0 if trailer else self._ino,
            mode,
            0,  # uid
            0,  # gid
            2 if stat.S_ISDIR(mode) else 1,  # nlink
            0,  # mtime: 0 keeps the archive reproducible
            len(data),
            0,  # devmajor
            0,  # devminor
            rdev[0],
            rdev[1],
            len(name),
            0,  # check
        )
        self._out.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._out.write(name)
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))


def tar_reader(archive: tarfile.TarFile) -> Callable[[str], bytes]:
    """A function reading one regular file of a tar archive by name.

    :raise LabError: When the member is absent or not a regular file.
    """

    def read(name: str) -> bytes:
        try:
            handle = archive.extractfile(name)
        except KeyError:
            raise LabError(f"{name} is not in the kernel package") from None
        if handle is None:
            raise LabError(f"{name} in the kernel package is not a regular file")
        return handle.read()

    return read
