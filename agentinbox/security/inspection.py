"""What an inbound check sees and what it reports: ``Inspection`` in, ``Finding`` out.

Authentication (SPF, DKIM, DMARC), spam scanning and virus scanning are each a ``Check``: an async callable
that looks at one arriving message before it is stored and reports labels for it, a structured verdict
stored with it (the ``authentication``, ``spam`` or ``virus`` field of the Message) and trace headers such
as ``Authentication-Results`` to prepend to its bytes, as a receiving MTA prepends its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..mail.parse import ParsedMessage

__all__ = ["CHECK_LABELS", "Check", "Finding", "Inspection"]

#: The labels a check may give: the classification labels a content or sender verdict earns, and
#: ``virus`` (given together with ``spam``, so infected mail is kept out of lists as spam is).
CHECK_LABELS = ("spam", "unauthenticated", "virus")


@dataclass(frozen=True, slots=True)
class Inspection:
    """One arriving message as the checks see it: the raw bytes and their parse, the SMTP envelope sender and
    client when another MTA handed it over (``client_ip`` None: handed to ``deliver()`` in-process), and,
    for the checks that run after authentication, its verdict (the ``Authentication`` fields)."""

    raw: bytes
    parsed: ParsedMessage
    mail_from: str | None = None
    client_ip: str | None = None
    helo: str | None = None
    authentication: dict[str, Any] | None = None


@dataclass(slots=True)
class Finding:
    """What checks found: labels, the structured verdicts by name, and trace headers to prepend."""

    labels: list[str] = field(default_factory=list)
    #: ``{"authentication": {...}, "spam": {...}, "virus": {...}}``: the fields of the Message models
    #: ``Authentication``, ``SpamCheck`` and ``VirusCheck``, as JSON-ready dicts. A virus finding may name
    #: the attachment by its position in ``parsed.attachments`` (``attachment_index``); storing turns that
    #: into the attachment's id.
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``(name, value)`` pairs, prepended to the stored message in this order.
    headers: list[tuple[str, str]] = field(default_factory=list)

    def merge(self, other: Finding) -> None:
        """Add ``other``'s labels, verdicts and headers to this one."""
        for label in other.labels:
            if label not in self.labels:
                self.labels.append(label)
        self.verdicts.update(other.verdicts)
        self.headers.extend(other.headers)


class Check(Protocol):
    """One inbound check. ``name`` is the verdict it reports: ``authentication``, ``spam`` or ``virus``.

    A check must not raise for bad mail (malformed mail gets a verdict like any other); it may raise when
    it cannot work at all (a scanner daemon down), and the message is then stored with an error verdict.
    """

    name: str

    async def __call__(self, inspection: Inspection) -> Finding: ...
