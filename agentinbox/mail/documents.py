"""Text of attached documents (plain text, HTML, PDF through pypdf, DOCX through python-docx), for a model
to read: bytes in, text out, no I/O.
"""

from __future__ import annotations

import io
from typing import Literal

from .extract import html_to_text

__all__ = ["Kind", "kind", "text"]

Kind = Literal["text", "html", "pdf", "docx", "binary"]

_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/csv",
    "application/x-yaml",
    "message/rfc822",
}
_TEXT_SUFFIXES = (".txt", ".md", ".csv", ".tsv", ".json", ".xml", ".yaml", ".yml", ".log", ".ics", ".eml")


def kind(content_type: str | None, filename: str | None) -> Kind:
    """What a file is, for reading its text: by its content type, else by its name's suffix."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    name = (filename or "").lower()
    if ctype == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if ctype == _DOCX or name.endswith(".docx"):
        return "docx"
    if ctype == "text/html" or name.endswith((".html", ".htm")):
        return "html"
    if ctype.startswith("text/") or ctype in _TEXT_TYPES or name.endswith(_TEXT_SUFFIXES):
        return "text"
    return "binary"


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def _decode(data: bytes, content_type: str | None) -> str:
    try:
        return data.decode(_charset(content_type), errors="replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", errors="replace")


def _pdf_text(data: bytes, limit: int) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    count = len(reader.pages)
    parts = [f"({count} page{'s' if count != 1 else ''})"]
    length = 0
    for number, page in enumerate(reader.pages, 1):
        if length > limit:  # past the cap already: leave the other pages unparsed
            parts.append(f"[... pages {number} to {count} not read]")
            break
        text = (page.extract_text() or "").strip()
        if text:
            parts.append(f"--- page {number} ---\n{text}")
            length += len(parts[-1])
    return "\n\n".join(parts) if length else ""


def _docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(parts).strip()


def text(data: bytes, content_type: str | None, filename: str | None, *, limit: int) -> str:
    """The text of a file: decoded text, HTML as text, a PDF's pages (read up to about ``limit``
    characters, with its page count) or a DOCX's paragraphs and tables; "" for binary files. A malformed
    file raises whatever its parser raises."""
    what = kind(content_type, filename)
    if what == "pdf":
        return _pdf_text(data, limit)
    if what == "docx":
        return _docx_text(data)
    if what == "html":
        return html_to_text(_decode(data, content_type))
    if what == "text":
        return _decode(data, content_type)
    return ""
