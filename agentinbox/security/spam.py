"""The inbound spam check: the scanner ``settings.spam_scanner`` names, and its verdict as a ``Finding``.

``builtin`` scores the rules of :mod:`.spam_rules` in-process; ``spamd://host:port`` asks SpamAssassin and
``rspamd://host:port`` asks rspamd, each judging with its own configuration. Mail judged spam gets the
``spam`` label; the verdict (the ``SpamCheck`` fields) is stored on the message either way, with an
``error`` when the daemon was down, slow or answered garbage (the mail is then stored unlabelled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ValidationError
from ..settings import Settings
from .inspection import Check, Finding, Inspection
from .rspamd import RspamdError, rspamd_check
from .spam_rules import match_rules
from .spamd import SpamdError, spamd_symbols

__all__ = ["BuiltinSpamCheck", "RspamdCheck", "SpamdCheck", "parse_spam_scanner", "spam_check"]

logger = logging.getLogger("agentinbox.checks")

_DEFAULT_PORTS = {"spamd": 783, "rspamd": 11333}
# The daemon's own deadline, a little inside the check's, so its clear error wins over a bare timeout.
_DEADLINE_SHARE = 0.9


def spam_check(settings: Settings) -> Check | None:
    """The spam scanner ``settings.spam_scanner`` names, or None for ``none``.

    Raises ValidationError for a value that names no scanner.
    """
    kind, host, port = parse_spam_scanner(settings.spam_scanner)
    deadline = settings.check_timeout * _DEADLINE_SHARE
    if kind == "none":
        return None
    if kind == "builtin":
        return BuiltinSpamCheck(threshold=settings.spam_threshold)
    if kind == "spamd":
        return SpamdCheck(host=host, port=port, seconds=deadline)
    return RspamdCheck(host=host, port=port, seconds=deadline)


def parse_spam_scanner(value: str) -> tuple[str, str, int]:
    """``(kind, host, port)`` for a ``spam_scanner`` value: ``builtin``, ``none``, ``spamd://host[:port]``
    (port 783 by default) or ``rspamd://host[:port]`` (port 11333)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() in ("builtin", "none"):
        return text.lower(), "", 0
    expected = "expected builtin, none, spamd://host:port or rspamd://host:port"
    try:
        url = urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise _invalid(value, f"{exc}; {expected}") from exc
    kind = url.scheme.lower()
    if kind not in _DEFAULT_PORTS:
        raise _invalid(value, expected)
    if not url.hostname:
        raise _invalid(value, f"no host; {expected}")
    if url.path not in ("", "/") or url.query or url.fragment or url.username or url.password:
        raise _invalid(value, f"only a host and port may follow {kind}://")
    return kind, url.hostname, port or _DEFAULT_PORTS[kind]


def _invalid(value: object, why: str) -> ValidationError:
    return ValidationError(f"invalid setting spam_scanner {value!r}: {why}", path=["spam_scanner"])


def _finding(
    scanner: str, spam: bool, score: float, threshold: float, rules: list[str], error: str | None = None
) -> Finding:
    verdict: dict[str, Any] = {
        "scanner": scanner,
        "spam": spam,
        "score": round(score, 3),
        "threshold": threshold,
        "rules": rules,
        "error": error,
    }
    return Finding(labels=["spam"] if spam else [], verdicts={"spam": verdict})


def _failed(scanner: str, exc: Exception) -> Finding:
    """The verdict when a daemon could not judge: not spam, score and threshold 0, and why.

    The check reports it itself (rather than raising to ``run_checks``) so the message's ``spam`` field
    names the scanner and its error.
    """
    logger.warning("spam scanner %s failed: %s", scanner, exc)
    return _finding(scanner, False, 0.0, 0.0, [], f"the spam check failed: {exc}")


@dataclass(slots=True)
class BuiltinSpamCheck:
    """The built-in scanner: the sum of the matched rules' scores against ``threshold``."""

    threshold: float
    name: str = "spam"

    async def __call__(self, inspection: Inspection) -> Finding:
        matches = match_rules(inspection)
        score = sum(match.score for match in matches)
        rules = [match.name for match in matches]
        return _finding("builtin", score >= self.threshold, score, self.threshold, rules)


@dataclass(slots=True)
class SpamdCheck:
    """SpamAssassin's spamd at ``host``:``port``, which decides with its own threshold."""

    host: str
    port: int
    seconds: float
    name: str = "spam"

    async def __call__(self, inspection: Inspection) -> Finding:
        try:
            result = await spamd_symbols(self.host, self.port, inspection.raw, seconds=self.seconds)
        except SpamdError as exc:
            return _failed("spamd", exc)
        return _finding("spamd", result.spam, result.score, result.threshold, result.rules)


@dataclass(slots=True)
class RspamdCheck:
    """rspamd's normal worker at ``host``:``port``; spam when its action is a spam action."""

    host: str
    port: int
    seconds: float
    name: str = "spam"

    async def __call__(self, inspection: Inspection) -> Finding:
        try:
            result = await rspamd_check(
                self.host,
                self.port,
                inspection.raw,
                seconds=self.seconds,
                mail_from=inspection.mail_from,
                client_ip=inspection.client_ip,
                helo=inspection.helo,
            )
        except RspamdError as exc:
            return _failed("rspamd", exc)
        return _finding("rspamd", result.spam, result.score, result.threshold, result.symbols)
