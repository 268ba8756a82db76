"""Opening archives (zip, tar, gzip, bzip2, xz) for the built-in virus rules without trusting them.

Members are handed out as streams of chunks under limits on nesting depth, entry count, bytes produced by
decompression and compression ratio, so a zip bomb costs a bounded amount of time and memory: nothing here
ever holds an archive's whole expansion. A limit that is exceeded, or an encrypted member, raises
``ArchiveLimit``: content that cannot be scanned is treated as a finding, not waved through. Archives that
are merely broken (truncated, bad CRC, unknown compression) give what could be read and no error. No I/O
beyond the bytes given; 7z and rar are not opened (clamd, when configured, does).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "CHUNK",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_EXPANDED",
    "MAX_NESTED",
    "MAX_RATIO",
    "RATIO_FLOOR",
    "ArchiveLimit",
    "Budget",
    "Member",
    "Stream",
    "archive_kind",
    "members",
]

#: How deep archives may nest (an attachment's archive is level 1, an archive inside it level 2, …; a
#: ``.tar.gz`` counts two). Deeper nesting is a known way of hiding from scanners, and rare in real mail.
MAX_DEPTH = 5
#: Members over all archives of one message: past this, listing them is itself the attack.
MAX_ENTRIES = 2_000
#: Bytes produced by decompression over all archives of one message (ClamAV's MaxScanSize is 100 MB).
MAX_EXPANDED = 64 * 1024 * 1024
#: A member that expands to more than this many times its compressed size, once past ``RATIO_FLOOR``
#: bytes, is a bomb (ordinary text compresses 3–10×, zeros over 1000×).
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
#: A member that is itself an archive or OLE2 document is held in memory to be opened, up to this size;
#: a larger one cannot be inspected and counts as exceeding the limits.
MAX_NESTED = 16 * 1024 * 1024
#: Bytes read from a member at a time.
CHUNK = 64 * 1024

_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_TAR_MAGIC_AT = 257  # "ustar" in a POSIX tar header


class Stream(Protocol):
    """A member's content as the archive modules hand it out."""

    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


class ArchiveLimit(Exception):
    """An archive exceeds a limit or is encrypted: ``rule`` names which, ``reason`` says it in words."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


@dataclass(slots=True)
class Budget:
    """What one message's archives have used of ``MAX_ENTRIES`` and ``MAX_EXPANDED`` so far."""

    entries: int = 0
    expanded: int = 0

    def count_entries(self, where: str, number: int) -> None:
        self.entries += number
        if self.entries > MAX_ENTRIES:
            raise ArchiveLimit(
                "archive-entries", f"{where} holds too many files (more than {MAX_ENTRIES} in all)"
            )

    def count_expanded(self, where: str, number: int) -> None:
        self.expanded += number
        if self.expanded > MAX_EXPANDED:
            raise ArchiveLimit(
                "archive-bomb", f"{where} expands to more than {MAX_EXPANDED // (1024 * 1024)} MB"
            )


@dataclass(slots=True)
class Member:
    """One file inside an archive: its path there, and its content as chunks (read it before the next)."""

    name: str
    #: Bytes the member takes inside the archive, when compressed on its own (0: not known).
    compressed: int
    _open: Callable[[], Stream]
    _budget: Budget
    #: Whether reading it counts as decompression (zip members, gzip/bzip2/xz streams; not tar members).
    _expands: bool = True

    def chunks(self) -> Iterator[bytes]:
        """The member's bytes, ``CHUNK`` at a time, checking the budget and the ratio as they come.

        Stops quietly where the archive is broken; raises ``ArchiveLimit`` when a limit is exceeded.
        """
        produced = 0
        stream: Stream | None = None
        try:
            stream = self._open()
            while chunk := stream.read(CHUNK):
                produced += len(chunk)
                if self._expands:
                    self._budget.count_expanded(self.name, len(chunk))
                    if self.compressed and produced > RATIO_FLOOR and produced > self.compressed * MAX_RATIO:
                        raise ArchiveLimit(
                            "archive-bomb",
                            f"{self.name} expands over {MAX_RATIO} times its compressed size "
                            f"({self.compressed} bytes to more than {produced})",
                        )
                yield chunk
        except ArchiveLimit:
            raise
        except Exception:  # zlib.error, EOFError, BadZipFile (CRC), NotImplementedError, OSError, …
            return
        finally:
            if stream is not None:
                stream.close()


def archive_kind(head: bytes) -> str | None:
    """``zip``, ``gzip``, ``bzip2``, ``xz`` or ``tar`` from a file's first bytes, or None."""
    if head.startswith(_ZIP):
        return "zip"
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_BZIP2) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(_XZ):
        return "xz"
    if head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar":
        return "tar"
    return None


def members(data: bytes, kind: str, *, name: str, budget: Budget) -> Iterator[Member]:
    """The members of the archive ``data`` of ``kind`` (see ``archive_kind``), called ``name``.

    A compressed stream (gzip, bzip2, xz) has one member: its content, named after it without the suffix.
    Raises ``ArchiveLimit`` for too many entries, declared sizes over the limits and encrypted members.
    """
    if kind == "zip":
        yield from _zip_members(data, name, budget)
    elif kind == "tar":
        yield from _tar_members(data, name, budget)
    elif kind in _STREAMS:
        opener = _STREAMS[kind]
        budget.count_entries(name, 1)
        inner = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else f"{name}:content"
        yield Member(inner, len(data), lambda: opener(io.BytesIO(data)), budget)


# Each is closed by Member.chunks once read.
_STREAMS: dict[str, Callable[[io.BytesIO], Stream]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": lambda raw: bz2.BZ2File(raw, mode="rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, mode="rb"),  # noqa: SIM115
}


def _zip_members(data: bytes, name: str, budget: Budget) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not info.is_dir()]
    except Exception:  # not a readable zip (truncated, no central directory): nothing to list
        return
    budget.count_entries(name, len(infos))
    # The central directory's sizes can lie, so reading is capped anyway; but an honest bomb is refused
    # here without decompressing a byte.
    declared = sum(info.file_size for info in infos)
    if budget.expanded + declared > MAX_EXPANDED:
        raise ArchiveLimit(
            "archive-bomb",
            f"{name} declares {declared} bytes when expanded, over {MAX_EXPANDED // (1024 * 1024)} MB",
        )
    for info in infos:
        where = f"{name}/{info.filename}"
        # Bit 0 of the general purpose flags: traditional PKWARE encryption; method 99: WinZip AES.
        if info.flag_bits & 0x1 or info.compress_type == 99:
            raise ArchiveLimit("archive-encrypted", f"{where} is encrypted, so its content cannot be scanned")
        if info.file_size > RATIO_FLOOR and info.file_size > max(info.compress_size, 1) * MAX_RATIO:
            raise ArchiveLimit(
                "archive-bomb",
                f"{where} declares {info.file_size} bytes from {info.compress_size} compressed "
                f"(over {MAX_RATIO} times)",
            )
        yield Member(where, info.compress_size, _zip_opener(archive, info), budget)


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], Stream]:
    return lambda: archive.open(info)


def _tar_members(data: bytes, name: str, budget: Budget) -> Iterator[Member]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed below
    except Exception:
        return
    with archive:
        while True:
            try:
                entry = archive.next()
            except Exception:  # a broken header: the members before it were seen
                return
            if entry is None:
                return
            budget.count_entries(name, 1)
            if entry.isfile():
                yield Member(f"{name}/{entry.name}", 0, _tar_opener(archive, entry), budget, _expands=False)


def _tar_opener(archive: tarfile.TarFile, entry: tarfile.TarInfo) -> Callable[[], Stream]:
    def open_entry() -> Stream:
        stream = archive.extractfile(entry)
        if stream is None:  # pragma: no cover - isfile() members always have content
            return io.BytesIO(b"")
        return stream

    return open_entry
