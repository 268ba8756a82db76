"""Reply extraction: the new content of a message without its quoted history, and a short preview. No I/O.

talon does the work; it is imported on first use, since its import takes about a second. Extraction never
raises and never loses content: on any failure, or where talon would cut a long message, the text is kept.
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser
from types import ModuleType

__all__ = ["extract_reply", "html_to_text", "make_preview"]

# talon reads only its first 1,000 lines and drops the rest; longer bodies are returned whole instead.
_MAX_LINES = 1000
_MAX_CHARS = 200_000
_SPACE = re.compile(r"\s+")
_talon: ModuleType | None = None


def _quotations() -> ModuleType:
    global _talon
    if _talon is None:
        from talon import quotations

        _talon = quotations
    return _talon


def extract_reply(text: str | None, html: str | None) -> tuple[str | None, str | None]:
    """``(extracted_text, extracted_html)``: only what the sender wrote, quoted history removed."""
    return _extract_text(text), _extract_html(html)


def _extract_text(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    if not stripped or len(text) > _MAX_CHARS or text.count("\n") >= _MAX_LINES:
        return stripped
    try:
        result = _quotations().extract_from_plain(text)
    except Exception:
        return stripped
    return result.strip() or stripped


def _extract_html(html: str | None) -> str | None:
    if html is None:
        return None
    if not html.strip() or len(html) > _MAX_CHARS:
        return html
    try:
        result = _quotations().extract_from_html(html)
    except Exception:
        return html
    return result if html_to_text(result).strip() else html


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "blockquote", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML fragment (scripts and styles dropped, entities decoded)."""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:
        return html_lib.unescape(re.sub(r"<[^>]*>", " ", html))
    return "".join(collector.parts)


def make_preview(text: str | None, html: str | None, *, length: int = 200) -> str | None:
    """A one-line preview of at most ``length`` characters, cut at a word boundary."""
    source = text if text and text.strip() else (html_to_text(html) if html else "")
    flat = _SPACE.sub(" ", source).strip()
    if not flat:
        return None
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
