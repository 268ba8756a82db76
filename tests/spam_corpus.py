"""The labelled spam sample: ham from the shared corpora, spam from SpamAssassin's samples and tests/spam_sample.

Ham is read from ``shared/corpora`` at run time (never copied here): a fixed, spread-out selection of the
R-devel list archive, notmuch's list corpora, talon's replies and CPython's email test messages. The
hand-written spam in ``tests/spam_sample/spam`` is in two parts: ``dev`` (looked at while the built-in rules
were checked) and ``heldout`` (written afterwards and never used to change a rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CORPORA", "SAMPLE", "Sample", "load_sample"]

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
SAMPLE = Path(__file__).resolve().parent / "spam_sample"
_MBOX_SEPARATOR = re.compile(rb"^From \S+ at \S+\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}\r?\n", re.MULTILINE)
_HEADER = re.compile(rb"^From:", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled message: where it came from, its bytes, whether it is spam, and its part of the sample
    (``ham``, ``spamassassin``, ``dev`` or ``heldout``)."""

    name: str
    raw: bytes
    spam: bool
    part: str


def _is_message(raw: bytes) -> bool:
    """Whether ``raw`` is a whole message (a From header before the body), not a bare body fragment."""
    head = raw[:8192].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return bool(_HEADER.search(head))


def _ham() -> list[Sample]:
    found: list[Sample] = []
    mbox = CORPORA / "mbox_r_devel" / "r-devel-2015.mbox"
    messages = [part for part in _MBOX_SEPARATOR.split(mbox.read_bytes()) if part.strip()]
    found += [Sample(f"r-devel#{i}", messages[i], False, "ham") for i in range(0, len(messages), 15)]
    files: list[Path] = []
    notmuch = CORPORA / "notmuch"
    for sub in ("default", "html", "attachment", "crypto", "threading", "indexing"):
        files += sorted(path for path in (notmuch / sub).rglob("*") if path.is_file())
    files += sorted(path for path in (notmuch / "lkml").rglob("*") if path.is_file())[::3]
    files += sorted((CORPORA / "talon").rglob("*.eml"))
    files += sorted((CORPORA / "cpython_email" / "messages").glob("msg_*.txt"))
    files.append(CORPORA / "spamassassin_samples" / "sample-nonspam.txt")
    for path in files:
        raw = path.read_bytes()
        if _is_message(raw):
            found.append(Sample(str(path.relative_to(CORPORA)), raw, False, "ham"))
    return found


def load_sample() -> list[Sample]:
    """Every message of the sample; raises FileNotFoundError when the shared corpora are absent."""
    if not CORPORA.exists():
        raise FileNotFoundError(f"the shared corpora are not at {CORPORA}")
    sample = _ham()
    for name in ("gtube.txt", "sample-spam.txt"):
        path = CORPORA / "spamassassin_samples" / name
        sample.append(Sample(f"spamassassin_samples/{name}", path.read_bytes(), True, "spamassassin"))
    for part in ("dev", "heldout"):
        for path in sorted((SAMPLE / "spam" / part).glob("*.eml")):
            sample.append(Sample(f"spam_sample/{part}/{path.name}", path.read_bytes(), True, part))
    return sample
