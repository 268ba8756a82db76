"""Inbound virus check: the built-in rules (``malware.py``) and, when configured, ClamAV's clamd beside them.

Infected mail is stored, not dropped (what was acknowledged is never lost), but labelled ``virus`` and
``spam``: ``spam`` keeps it out of message and thread lists unless spam is asked for and makes its event
``message.received.spam``, so an agent acting on ``message.received`` never opens it unasked; ``virus`` says
why it is spam. Its verdict (the Message's ``virus`` field) names each rule or signature, the reason in
words and the attachment it was found in, and its raw content and attachments are withheld
(ForbiddenError).

``virus_scanner`` selects the check: ``builtin``; ``clamd://host:port`` or ``clamd:///path/to/clamd.sock``
(clamd scans the raw message while the built-in rules run, their findings combined; the verdict's scanner
is ``builtin+clamd``; ``?stream_max_length=100M`` tells the client clamd's ``StreamMaxLength`` when it is
not Debian's 25M); or ``none``. When clamd cannot answer (down, slower than ``check_timeout`` allows,
or answering garbage), the verdict records why in its ``error`` and the built-in findings alone decide:
clean by them, the mail is stored unlabelled; mail is never held or lost because clamd is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import ValidationError
from ..settings import Settings
from .archives import archive_kind
from .clamd import Clamd, ClamdError
from .filetypes import OLE2_MAGIC
from .inspection import Check, Finding, Inspection
from .malware import Detection, scan_message

__all__ = ["BuiltinVirusCheck", "ClamdVirusCheck", "check_virus_scanner", "virus_check"]

logger = logging.getLogger("agentinbox.checks")

#: The labels infected mail gets.
VIRUS_LABELS = ["virus", "spam"]
#: The share of ``check_timeout`` clamd may take, so its own clear error arrives before the check's
#: deadline and the built-in findings are kept.
_CLAMD_SHARE = 0.9
#: Attachments up to this many bytes in all (and no archive) are scanned on the event loop.
_INLINE_BYTES = 256 * 1024


def virus_check(settings: Settings) -> Check | None:
    """The virus scanner ``settings.virus_scanner`` names, or None for ``none``."""
    value = check_virus_scanner(settings.virus_scanner)
    if value == "none":
        return None
    if value == "builtin":
        return BuiltinVirusCheck()
    return ClamdVirusCheck(Clamd.from_url(value, timeout=settings.check_timeout * _CLAMD_SHARE))


def check_virus_scanner(value: object) -> str:
    """``value`` as a ``virus_scanner`` setting (``builtin``, ``none``, ``clamd://host:port``,
    ``clamd:///path/to/clamd.sock``), stripped; a ValidationError naming the setting when it is none of them."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() in ("builtin", "none"):
        return text.lower()
    if text.lower().startswith("clamd:"):
        Clamd.from_url(text, timeout=1.0)
        return text
    raise ValidationError(
        f"virus_scanner {value!r} is not one of: builtin, none, clamd://host:port, clamd:///path/to/clamd.sock",
        path=["virus_scanner"],
    )


class BuiltinVirusCheck:
    """The built-in rules alone."""

    name = "virus"

    async def __call__(self, inspection: Inspection) -> Finding:
        return _finding("builtin", await _builtin(inspection))


class ClamdVirusCheck:
    """clamd and the built-in rules, concurrently; ``clamd`` is where the daemon listens."""

    name = "virus"

    def __init__(self, clamd: Clamd) -> None:
        self.clamd = clamd

    async def __call__(self, inspection: Inspection) -> Finding:
        builtin, signatures = await asyncio.gather(
            _builtin(inspection), self.clamd.scan(inspection.raw), return_exceptions=True
        )
        if isinstance(builtin, BaseException):
            raise builtin
        if isinstance(signatures, ClamdError):
            logger.warning("virus check: %s", signatures)
            return _finding("builtin+clamd", builtin, error=str(signatures))
        if isinstance(signatures, BaseException):
            raise signatures
        found = [Detection(name, f"clamd found {name}") for name in signatures]
        return _finding("builtin+clamd", [*builtin, *found])


async def _builtin(inspection: Inspection) -> list[Detection]:
    """The built-in rules' findings. Small mail without archives is scanned on the event loop (a thread
    would cost more than the scan); large attachments and archives, whose expansion may take a while
    within the limits, in a worker thread."""
    attachments = inspection.parsed.attachments
    size = sum(len(attachment.content) for attachment in attachments)
    if size <= _INLINE_BYTES and not any(
        archive_kind(attachment.content[:512]) or attachment.content.startswith(OLE2_MAGIC)
        for attachment in attachments
    ):
        return scan_message(inspection.raw, inspection.parsed)
    return await asyncio.to_thread(scan_message, inspection.raw, inspection.parsed)


def _finding(scanner: str, detections: list[Detection], *, error: str | None = None) -> Finding:
    verdict: dict[str, Any] = {
        "scanner": scanner,
        "infected": bool(detections),
        "findings": [
            {"name": d.name, "reason": d.reason, "attachment_index": d.attachment_index} for d in detections
        ],
    }
    if error is not None:
        verdict["error"] = f"clamd could not scan the message: {error}"
    return Finding(labels=list(VIRUS_LABELS) if detections else [], verdicts={"virus": verdict})
