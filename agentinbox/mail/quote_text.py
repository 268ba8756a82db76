"""Quoted history in a plain-text reply, after talon: cuts at what it misses (localized attributions, header
blocks, separators, bounces' returned copies), splits forwarded messages off, and keeps inline replies whole
up to their last answer.

Pure functions, no I/O; linear in the number of lines.
"""

from __future__ import annotations

import re

from .attribution import Boundary, find_boundary
from .bounce_text import find_returned_message
from .forwarded import ForwardedMessage, find_forward_marker, parse_forwarded

__all__ = ["history_start", "split_reply"]

_INLINE = re.compile(r"me*t[te]*m")
_SHARED_LINE = re.compile(r"\S\s*-*\s*\b(?:On|Am|Le|El|Il|Em|Op|Den|På|W dniu)\s+\S")


def _markers(lines: list[str]) -> str:
    """One letter per line: ``m`` quoted ("> …"), ``e`` empty, ``t`` text."""
    return "".join(["e" if not (text := line.lstrip()) else "m" if text[0] == ">" else "t" for line in lines])


def _drop_trailing_quote(lines: list[str], markers: str) -> list[str]:
    """``lines`` up to their last unquoted text line: the history after the last answer goes."""
    last = markers.rfind("t")
    return lines[: last + 1] if last != -1 else lines


def _cut(lines: list[str], boundary: Boundary, depth: int) -> list[str]:
    before = lines[: boundary.index]
    if boundary.kind != "attribution":
        return before  # a header block or separator: everything below is the earlier message
    markers = _markers(lines)
    region = markers[boundary.end :]
    first = len(region) - len(region.lstrip("e"))
    if first >= len(region) or region[first] != "m":
        return before  # an unquoted quote (Apple Mail, Outlook): the rest is history
    if _INLINE.search(region):
        return _drop_trailing_quote(lines, markers)  # answers between the quoted questions
    # a quote block, then text after it (a sign-off, a footer): keep the text, as talon does
    end = boundary.end + first
    while end < len(lines) and markers[end] in "me":
        end += 1
    rest = lines[end:]
    return before + ([""] + _split(rest, depth + 1)[0] if rest else [])


def history_start(lines: list[str]) -> int | None:
    """The index where ``lines`` turn into quoted history for good (everything after it is history), or
    None when there is no such place or the history is interleaved with answers."""
    boundary = find_boundary(lines, 0)
    if boundary is None:
        return None
    if _SHARED_LINE.search(lines[boundary.index]):
        return None  # "reply--- On … wrote:": talon splits such a line
    if boundary.kind != "attribution":
        return boundary.index
    region = _markers(lines[boundary.end :])
    first = len(region) - len(region.lstrip("e"))
    if first >= len(region) or region[first] == "t" or "t" not in region[first:]:
        return boundary.index
    return None


def _split(lines: list[str], depth: int = 0) -> tuple[list[str], ForwardedMessage | None]:
    if depth > 3:
        return lines, None
    returned = find_returned_message(lines)
    if returned is not None:
        lines = lines[:returned]
    forward = find_forward_marker(lines)
    boundary = find_boundary(lines, 0)
    if forward is not None and (boundary is None or forward <= boundary.index):
        return lines[:forward], parse_forwarded(lines[forward:])
    if boundary is not None:
        return _cut(lines, boundary, depth), None
    markers = _markers(lines)
    if _INLINE.search(markers):
        return _drop_trailing_quote(lines, markers), None
    return lines, None


_RULE = re.compile(r"^(?:[-_=*] ?){10,}$")


def _without_trailing_rules(lines: list[str]) -> list[str]:
    """``lines`` less the rule lines ("_____", "-----") left at their end when what they introduced was cut."""
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or _RULE.match(lines[end - 1].strip())):
        end -= 1
    return lines[:end]


def split_reply(text: str) -> tuple[str, ForwardedMessage | None]:
    """``(reply, forwarded)``: the new text of ``text`` and the message it forwards, if any.

    The reply is never emptied by a cut: when nothing would be left, ``text`` stays whole.
    """
    lines = text.split("\n")
    kept, forwarded = _split(lines)
    reply = "\n".join(_without_trailing_rules(kept)).strip()
    if not reply and forwarded is None:
        return text.strip(), None
    return reply, forwarded
