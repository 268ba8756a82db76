"""Quoted history in replies: recognising the lines of earlier messages when a later one quotes them, and
shortening those quotes, so a conversation reads as what each sender added.
"""

from __future__ import annotations

import re

__all__ = ["compact_quotes", "known_lines"]

_QUOTE = re.compile(r"^\s*>")
_QUOTE_MARKS = re.compile(r"^(\s*>)+\s?")


def _norm(line: str) -> str:
    return " ".join(_QUOTE_MARKS.sub("", line).split()).lower()


def known_lines(text: str) -> set[str]:
    """The normalised lines of a message, for recognising them when a later message quotes them."""
    return {n for n in map(_norm, text.splitlines()) if n}


def compact_quotes(body: str, known: set[str]) -> str:
    """``body`` with quoted blocks that repeat earlier messages (``known`` lines) shortened.

    An interleaved reply keeps each quoted block's first and last line, so what is answered stays visible; a
    block with nothing after it is history and goes entirely. Quotes of text not in ``known`` are kept.
    """
    lines = body.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _QUOTE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and (_QUOTE.match(lines[j]) or not lines[j].strip()):
            j += 1
        while j > i and not lines[j - 1].strip():  # blank lines after the block belong to what follows
            j -= 1
        block = lines[i:j]
        texts = [n for n in map(_norm, block) if n]
        share = sum(n in known for n in texts) / len(texts) if texts else 0.0
        trailing = all(not line.strip() or _QUOTE.match(line) for line in lines[j:])
        repeated = share >= 0.8
        # A trailing block that is mostly history (perhaps with a quoted list footer or signature) goes.
        if trailing and share >= 0.5 and len(block) > 1:
            out.append(f"> [{len(block)} quoted lines of earlier messages left out]")
        elif repeated and len(block) > 4:
            out += [
                block[0],
                f"> [... {len(block) - 2} quoted lines of earlier messages left out]",
                block[-1],
            ]
        else:
            out += block
        i = j
    return "\n".join(out)
