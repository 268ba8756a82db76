"""The ``Authentication-Results`` header field (RFC 8601): one result per method, in text that stays
well-formed whatever the sender put in its domains and signatures.

Pure functions, no I/O. Values a sender controls are written as tokens when they can be, else as quoted
strings; anything outside printable ASCII becomes ``?``, so the header never breaks the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Result", "render", "unfolded"]

_TOKEN = re.compile(r"^[!#$%&'*+.0-9A-Z^_`a-z{|}~-]+$")  # RFC 2045 token: no tspecials
_ADDRESS = re.compile(r"^[!#$%&'*+/=?^_`{|}~.0-9A-Za-z-]*@[0-9A-Za-z._-]+$")
_MAX_VALUE = 200


@dataclass(frozen=True, slots=True)
class Result:
    """One ``method=result (comment) ptype.property=value ...`` entry."""

    method: str
    result: str
    comment: str = ""
    properties: Sequence[tuple[str, str]] = field(default_factory=tuple)


def render(authserv_id: str, results: Sequence[Result]) -> str:
    """The header value: ``authserv-id`` then each result, one per line (the lines are folded onto
    tab-indented continuation lines when prepended; joined with spaces they are the unfolded value)."""
    lines = [_value(authserv_id or "localhost") + ";"]
    for index, result in enumerate(results):
        parts = [f"{result.method}={result.result}"]
        if result.comment:
            parts.append(_comment(result.comment))
        parts.extend(f"{name}={_value(value)}" for name, value in result.properties)
        lines.append(" ".join(parts) + (";" if index < len(results) - 1 else ""))
    if not results:
        lines.append("none")
    return "\n".join(lines)


def unfolded(value: str) -> str:
    """The header value on one line, as a reader of the stored message sees it."""
    return " ".join(value.split())


def _printable(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:_MAX_VALUE]


def _value(text: str) -> str:
    text = _printable(text)
    if _TOKEN.match(text) or _ADDRESS.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    cleaned = re.sub(r"[()\\]", "", _printable(text)).strip()
    return f"({cleaned})" if cleaned else ""
