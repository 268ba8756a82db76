"""What kind of file an attachment is, judged from its bytes and its name: the facts the virus rules use.

Executables are recognised by their magic numbers (PE/MZ, ELF, Mach-O, Windows shortcuts), whatever the
content type says, and by the extensions Windows runs on a double click; macro-enabled Office documents by
their extension and, for OLE2 (``.doc``, ``.xls``), by a ``VBA`` storage in the compound file's directory.
Pure functions over bytes: no I/O.
"""

from __future__ import annotations

import struct

__all__ = [
    "EICAR",
    "EXECUTABLE_CONTENT_TYPES",
    "MACRO_EXTENSIONS",
    "OLE2_MAGIC",
    "RISKY_EXTENSIONS",
    "executable_magic",
    "extension",
    "ole2_has_vba",
    "ole2_names",
]

#: The EICAR anti-virus test file (https://www.eicar.org): every scanner must report it.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

#: Extensions Windows (or a Java runtime) runs, installs or mounts when opened, with what they are.
RISKY_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(("exe", "com", "scr", "pif", "cpl", "dll", "sys"), "a Windows program"),
    **dict.fromkeys(("bat", "cmd"), "a Windows batch script"),
    **dict.fromkeys(
        ("js", "jse", "vbs", "vbe", "vb", "wsf", "wsh", "wsc", "sct"), "a Windows Script Host script"
    ),
    "hta": "an HTML application",
    **dict.fromkeys(("ps1", "psm1", "psd1"), "a PowerShell script"),
    **dict.fromkeys(("jar", "jnlp"), "a Java program"),
    **dict.fromkeys(("msi", "msp", "mst", "appx", "msix", "application"), "a Windows installer"),
    **dict.fromkeys(("lnk", "url", "scf"), "a Windows shortcut"),
    **dict.fromkeys(("reg", "inf", "msc", "gadget", "chm", "settingcontent-ms"), "a Windows system file"),
    **dict.fromkeys(("iso", "img", "vhd", "vhdx"), "a disk image Windows mounts on a double click"),
}

#: Office formats that carry VBA macros by definition (Office refuses macros in .docx, .xlsx, .pptx).
MACRO_EXTENSIONS = frozenset(("docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppam", "ppsm", "sldm"))

#: Content types that announce a program outright.
EXECUTABLE_CONTENT_TYPES = frozenset(
    (
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-mach-binary",
        "application/vnd.microsoft.portable-executable",
        "application/x-ms-installer",
        "application/x-msi",
        "application/x-ms-shortcut",
        "application/hta",
        "application/java-archive",
        "application/x-java-archive",
    )
)

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_LNK = b"L\x00\x00\x00\x01\x14\x02\x00"  # a shell link header: its size, then the start of its CLSID
_SPECIAL_SECTOR = 0xFFFFFFFA  # OLE2 sector numbers from here up mark free, end-of-chain, FAT and DIFAT
_END_OF_CHAIN = 0xFFFFFFFE
_FREE_SECTOR = 0xFFFFFFFF
_VBA_NAMES = frozenset(("VBA", "_VBA_PROJECT", "_VBA_PROJECT_CUR"))
_VBA_UTF16 = "_VBA_PROJECT".encode("utf-16-le")


def extension(filename: str | None) -> str:
    """The last extension of ``filename``, lower-cased without the dot ('' when there is none).

    Trailing dots and spaces, which Windows ignores, are ignored too (``invoice.exe.`` runs as an .exe).
    """
    if not filename:
        return ""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def executable_magic(head: bytes) -> str | None:
    """What kind of program ``head`` (a file's first bytes, a few hundred suffice) starts, or None."""
    if head.startswith(b"MZ") and len(head) >= 64:
        (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
        if head[pe_offset : pe_offset + 4] == b"PE\x00\x00":
            return "a Windows PE executable"
        # A DOS program without a PE header: believed only when its header's size (in 16-byte paragraphs)
        # and relocation table offset are plausible, so text starting "MZ" (Mozambique) is not one.
        (paragraphs,) = struct.unpack_from("<H", head, 8)
        (relocations,) = struct.unpack_from("<H", head, 0x18)
        if 2 <= paragraphs <= 64 and 0x1C <= relocations <= paragraphs * 16:
            return "a DOS/Windows executable (MZ header)"
    if head.startswith(b"\x7fELF"):
        return "an ELF executable"
    if head.startswith(_MACHO):
        return "a Mach-O executable"
    if head.startswith(b"\xca\xfe\xba\xbe"):
        return "a Mach-O universal binary or Java class file"
    if head.startswith(_LNK):
        return "a Windows shortcut (.lnk)"
    return None


def ole2_names(data: bytes) -> list[str] | None:
    """The names in an OLE2 compound file's directory (its storages and streams), or None when ``data``
    is not one or its structure is broken. Follows the FAT and DIFAT chains with loop guards."""
    if not data.startswith(OLE2_MAGIC) or len(data) < 512:
        return None
    try:
        (shift,) = struct.unpack_from("<H", data, 30)
        if shift not in (9, 12):
            return None
        size = 1 << shift
        per_sector = size // 4

        def sector(number: int) -> bytes:
            start = (number + 1) * size  # sector 0 follows the 512-byte header (padded to a sector)
            return data[start : start + size]

        fat_count, first_dir = struct.unpack_from("<II", data, 44)
        first_difat, difat_count = struct.unpack_from("<II", data, 68)
        fat_sectors = [n for n in struct.unpack_from("<109I", data, 76) if n < _SPECIAL_SECTOR]
        number, seen = first_difat, 0
        while number < _SPECIAL_SECTOR and seen < min(difat_count, 10_000):
            block = sector(number)
            if len(block) < size:
                return None
            ids = struct.unpack(f"<{per_sector}I", block)
            fat_sectors.extend(n for n in ids[:-1] if n < _SPECIAL_SECTOR)
            number, seen = ids[-1], seen + 1
        fat: list[int] = []
        for number in fat_sectors[:fat_count]:
            block = sector(number)
            if len(block) < size:
                return None
            fat.extend(struct.unpack(f"<{per_sector}I", block))
        names: list[str] = []
        number, visited = first_dir, set()
        while number < _SPECIAL_SECTOR and number not in visited:
            visited.add(number)
            block = sector(number)
            if len(block) < size:
                return None
            for start in range(0, size, 128):
                entry = block[start : start + 128]
                (length,) = struct.unpack_from("<H", entry, 64)
                if entry[66] in (1, 2, 5) and 2 <= length <= 64:  # storage, stream, root
                    names.append(entry[: length - 2].decode("utf-16-le", "replace"))
            number = fat[number] if number < len(fat) else _FREE_SECTOR
        # A chain must end at ENDOFCHAIN; a free or missing link means the directory was cut short.
        return names if number == _END_OF_CHAIN else None
    except (struct.error, IndexError):
        return None


def ole2_has_vba(data: bytes) -> bool:
    """Whether the OLE2 file ``data`` holds a VBA project (Word keeps it under ``Macros/VBA``, Excel under
    ``_VBA_PROJECT_CUR/VBA``, an OOXML ``vbaProject.bin`` at its root). A file whose directory cannot be
    read is searched for the ``_VBA_PROJECT`` name instead, so breaking the structure does not hide it."""
    names = ole2_names(data)
    if names is None:
        return data.startswith(OLE2_MAGIC) and _VBA_UTF16 in data
    return any(name.upper() in _VBA_NAMES for name in names)
