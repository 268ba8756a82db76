"""Shared by the benchmarks: where the corpora are, and the mbox split into messages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
MBOX = CORPORA / "mbox_r_devel" / "r-devel-2015.mbox"
# Pipermail separators look like "From radford at cs.toronto.edu  Sun Mar  1 18:17:33 2015"; one body line
# starts with "From the …", so the pattern is strict about the date.
_SEPARATOR = re.compile(rb"^From \S+ at \S+\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}\r?\n", re.MULTILINE)


def require_corpora() -> None:
    """Exit with a clear message when the shared corpora are not beside the project."""
    if not MBOX.exists():
        print(f"the shared corpora are not at {CORPORA}; nothing to measure")
        sys.exit(0)


def mbox_messages() -> list[bytes]:
    """The 1,833 messages of the R-devel 2015 archive, as raw bytes."""
    data = MBOX.read_bytes()
    return [part for part in _SEPARATOR.split(data) if part.strip()]


def malformed_messages() -> list[bytes]:
    """Every message of the malformed-MIME collection, as its INDEX.tsv lists them."""
    folder = CORPORA / "malformed_mime"
    lines = (folder / "INDEX.tsv").read_text().splitlines()[1:]
    return [(folder / line.split("\t")[0]).read_bytes() for line in lines if line.strip()]
