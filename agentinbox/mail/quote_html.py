"""Quoted history in an HTML reply, after talon: the quote containers of Gmail, Apple Mail, Thunderbird,
Outlook, Outlook on the web, Yahoo and others, and blocks whose text starts quoted history (localized
attributions and header blocks); forwarded-message containers and signature containers are told apart.

Pure functions, no I/O; never raise (a document that cannot be parsed comes back as it is). lxml is imported
on first use.
"""

from __future__ import annotations

import re
from typing import Any

from .attribution import find_boundary, is_attribution
from .budget import check, not_counted
from .forwarded import find_forward_marker

__all__ = ["cut_html_quotes", "max_depth", "prepare_for_talon", "strip_trailing_text", "visible_text"]

MAX_HTML_CHARS = 300_000
_MAX_ELEMENTS = 5_000

# Containers after which everything is the earlier message (Outlook desktop/web, Yahoo, mobile clients).
_CUT_TO_END_IDS = re.compile(
    r"^(?:x_)?(?:divRplyFwdMsg|OLK_SRC_BODY_SECTION|appendonsend|mail-editor-reference-message-container|"
    r"ydp[0-9a-f]+yahoo_quoted_[0-9]+|reply-intro|isForwardContent|origbody|replySplit)$",
    re.IGNORECASE,
)
_CUT_TO_END_CLASSES = frozenset(
    {"yahoo_quoted", "ydp_yahoo_quoted", "zmail_extra", "protonmail_quote", "gmail_extra_quote",
     "moz-cite-prefix", "AppleOriginalContents", "ms-outlook-mobile-reference-message",
     "x_gmail_quote", "gmail_quote_container", "spark_quote", "airmail_on", "tutanota_quote",
     "mailspring_quote", "quote_container", "divRplyFwdMsg", "reply_wrap", "mail_android_quote"}
)  # fmt: skip
_GMAIL_QUOTE = frozenset({"gmail_quote", "gmail_quote_container", "x_gmail_quote"})
_FORWARD_CLASSES = frozenset({"moz-forward-container"})
_SIGNATURE = re.compile(
    r"^(?:gmail_signature|moz-signature|signature|Signature|AppleMailSignature|x_Signature|"
    r"ms-outlook-mobile-signature|yahoo-signature|ydp[0-9a-f]+signature|x_signature)$"
)
_BLOCKS = frozenset(
    {"p", "div", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table", "tr",
     "ul", "ol", "dl", "dt", "dd", "hr", "section", "article", "header", "footer", "center", "address"}
)  # fmt: skip


def _classes(element: Any) -> set[str]:
    return set(str(element.get("class") or "").split())


def _cut_from(element: Any, *, include: bool = True) -> None:
    """Remove ``element`` (when ``include``) and everything after it in document order."""
    node = element
    while True:
        parent = node.getparent()
        if parent is None:
            break
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        if node is not element:
            node.tail = None
        if parent.tag == "body":
            break
        node = parent
    if include:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)


def _has_text(element: Any) -> bool:
    return any(part.strip() for part in element.itertext())


def _text_after(element: Any) -> str:
    """The visible text after ``element`` in document order (its own tail included), outside quotes."""
    parts: list[str] = []
    node = element
    while node is not None and node.tag != "body":
        parts.append(node.tail or "")
        for sibling in node.itersiblings():
            check()
            if sibling.tag != "blockquote" and not (_classes(sibling) & _GMAIL_QUOTE):
                parts.extend(sibling.itertext())
            parts.append(sibling.tail or "")
        node = node.getparent()
    return "".join(parts).strip()


def _block_lines(element: Any) -> list[str]:
    """The text of a block with ``<br>`` and nested blocks as line breaks."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if node.tag == "br" or (isinstance(node.tag, str) and node.tag in _BLOCKS and node is not element):
            parts.append("\n")
        if node.text and isinstance(node.tag, str):
            parts.append(node.text)
        for child in node:
            walk(child)
        if isinstance(node.tag, str) and node.tag in _BLOCKS and node is not element:
            parts.append("\n")
        if node.tail and node is not element:
            parts.append(node.tail)

    walk(element)
    return [" ".join(line.split()) for line in "".join(parts).split("\n")]


def _is_leaf_block(element: Any) -> bool:
    return element.tag in _BLOCKS and not any(
        isinstance(child.tag, str) and child.tag in _BLOCKS for child in element
    )


def _text_boundary(body: Any) -> Any | None:
    """The first leaf block whose text starts quoted history (an attribution, a header block, a separator)."""
    for element in body.iter():
        check()
        if not isinstance(element.tag, str) or not _is_leaf_block(element) or element.tag == "blockquote":
            continue
        lines = [line for line in _block_lines(element) if line]
        if not lines or len(lines[0]) > 400:
            continue
        boundary = find_boundary(lines)
        if boundary is not None and boundary.index == 0:
            return element
        if boundary is None and is_attribution(lines[0]):
            return element
        # a header block spread over consecutive blocks ("<p><b>From:</b> …</p><p><b>Sent:</b> …</p>")
        following = [lines[0]]
        for sibling in element.itersiblings():
            if len(following) >= 4:
                break
            if isinstance(sibling.tag, str):
                following.extend(line for line in _block_lines(sibling) if line)
        boundary = find_boundary(following)
        if boundary is not None and boundary.index == 0 and boundary.kind == "header":
            return element
    return None


def _serialize(document: Any) -> str:
    from lxml import html as lxml_html

    body = document.find("body")
    root = body if body is not None else document
    inner = (root.text or "") + "".join(
        lxml_html.tostring(child, encoding="unicode", with_tail=True) for child in root
    )
    return inner


_PROTECTED = "data-agentinbox-blockquote"
_FORWARD_WORDS = ("forward", "weitergeleitet", "transféré", "reenviado", "inoltrato", "doorgestuurd",
                  "encaminhad", "vidarebefordra", "videresendt", "przekazan", "пересла", "пересыла", "転送",
                  "转发", "轉寄")  # fmt: skip


def _parse(html: str) -> Any | None:
    if len(html) > MAX_HTML_CHARS or html.count("<") > _MAX_ELEMENTS:
        return None
    with not_counted():  # the first import of lxml is one-time work
        from lxml import etree
        from lxml import html as lxml_html

    try:
        document = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None
    return document if document.find("body") is not None else None


def prepare_for_talon(html: str) -> tuple[str, str | None]:
    """``(note, forwarded)``: ``html`` split before a forwarded message's container (talon would cut it as a
    quote), with blockquotes used for indenting (no ``type="cite"``) hidden from talon, which cuts every
    blockquote; :func:`cut_html_quotes` restores them."""
    lowered = html.lower()
    if "<blockquote" not in lowered and not any(word in lowered for word in _FORWARD_WORDS):
        return html, None
    document = _parse(html)
    if document is None:
        return html, None
    from lxml import html as lxml_html

    body = document.find("body")
    changed = False
    forwarded: str | None = None
    for element in body.iter():
        check()
        if not isinstance(element.tag, str):
            continue
        classes = _classes(element)
        if (
            classes & _FORWARD_CLASSES
            or (classes & _GMAIL_QUOTE and _is_forward(element))
            or (element.tag == "blockquote" and _is_cited(element) and _is_forward(element))
        ):
            forwarded = _serialize_from(element, lxml_html)
            _cut_from(element)
            changed = True
            break
    for element in body.iter("blockquote"):
        check()
        if not _is_cited(element) and not _quoted_by_attribution(element):
            element.tag = "div"
            element.set(_PROTECTED, "")
            changed = True
    return (_serialize(document) if changed else html), forwarded


def _serialize_from(element: Any, lxml_html: Any) -> str:
    """The markup of ``element`` and of everything after it in document order (Apple Mail puts a forwarded
    message's header in one blockquote and its body in the next)."""
    parts = [lxml_html.tostring(element, encoding="unicode", with_tail=True)]
    node = element
    while node is not None and node.tag != "body":
        parts.extend(
            lxml_html.tostring(sibling, encoding="unicode", with_tail=True) for sibling in node.itersiblings()
        )
        parent = node.getparent()
        if parent is not None and parent.tag != "body" and parent.tail:
            parts.append(parent.tail)
        node = parent
    return "".join(str(part) for part in parts)


def _quoted_by_attribution(blockquote: Any) -> bool:
    """Whether the block before ``blockquote`` is an attribution ("On … wrote:")."""
    previous = blockquote.getprevious()
    if previous is None:
        return False
    lines = [line for line in _block_lines(previous) if line]
    return bool(lines) and is_attribution(lines[-1])


def _restore_protected(body: Any) -> bool:
    restored = False
    for element in body.iter("div"):
        if element.get(_PROTECTED) is not None:
            element.tag = "blockquote"
            del element.attrib[_PROTECTED]
            restored = True
    return restored


def cut_html_quotes(html: str) -> tuple[str, str]:
    """``(whole, reply)``: ``html`` without its quoted history, and that without signature and forwarded
    message containers too. Both are ``html`` itself when nothing is found or it cannot be parsed."""
    document = _parse(html)
    if document is None:
        return html, html
    body = document.find("body")
    changed = _PROTECTED in html and _restore_protected(body)
    # 1. containers that start the earlier message
    for element in list(body.iter()):
        check()
        if not isinstance(element.tag, str) or element.getparent() is None:
            continue
        classes = _classes(element)
        ident = str(element.get("id") or "")
        if classes & _GMAIL_QUOTE and _is_forward(element):
            continue
        if (
            (ident and _CUT_TO_END_IDS.match(ident))
            or classes & _CUT_TO_END_CLASSES
            or (classes & _GMAIL_QUOTE and not _text_after(element))
            or (element.tag == "blockquote" and _is_cited(element) and not _text_after(element))
        ):
            if _has_text_before(body, element):  # a cut never empties the reply
                _cut_from(element)
                changed = True
            break
    # 2. blocks whose text starts the earlier message
    boundary = _text_boundary(body)
    if boundary is not None and _has_text_before(body, boundary):
        _cut_from(boundary)
        changed = True
    whole = _serialize(document) if changed else html
    # 3. the reply alone: without forwarded message and signature containers
    removed = False
    for element in list(body.iter()):
        check()
        if not isinstance(element.tag, str) or element.getparent() is None:
            continue
        classes = _classes(element)
        if classes & _FORWARD_CLASSES or (classes & _GMAIL_QUOTE and _is_forward(element)):
            _cut_from(element)
            removed = True
            break
    for element in list(body.iter()):
        check()
        if not isinstance(element.tag, str) or element.getparent() is None:
            continue
        if any(_SIGNATURE.match(name) for name in _classes(element)) or _SIGNATURE.match(
            str(element.get("id") or "")
        ):
            element.getparent().remove(element)
            removed = True
    reply = _serialize(document) if removed else whole
    return whole, reply


def _is_cited(blockquote: Any) -> bool:
    """A blockquote that quotes a message (``type="cite"``, a ``cite`` source, a quote class), not one used
    for indenting."""
    classes = " ".join(_classes(blockquote)).lower()
    return blockquote.get("type") == "cite" or blockquote.get("cite") is not None or "quote" in classes


def _is_forward(element: Any) -> bool:
    lines = [line for line in _block_lines(element) if line][:3]
    return find_forward_marker(lines) is not None


def _has_text_before(body: Any, element: Any) -> bool:
    """Whether any visible text comes before ``element`` in document order (a cut never empties a reply)."""
    for node in body.iter():
        check()
        if node is element:
            return False
        if isinstance(node.tag, str) and node.text and node.text.strip():
            return True
        if node.tail and node.tail.strip() and not _is_ancestor(node, element):
            return True
    return False


def _is_ancestor(node: Any, element: Any) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent is node:
            return True
        parent = parent.getparent()
    return False


_SKIPPED = frozenset({"script", "style", "head", "title", "template"})


def visible_text(html: str) -> str:
    """The visible text of ``html``, one line per block (as ``extract.html_to_text`` lays it out, but read
    with lxml: linear, and fast on large documents)."""
    from lxml import etree

    document = _parse(html)
    if document is None:
        return ""
    parts: list[str] = []
    skipping = 0
    for event, element in etree.iterwalk(document.find("body"), events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _SKIPPED:
                skipping += 1
            elif not skipping:
                if tag in _BLOCKS or tag == "br":
                    parts.append("\n")
                if element.text and isinstance(element.tag, str):
                    parts.append(element.text)
        else:
            if tag in _SKIPPED:
                skipping -= 1
            elif not skipping and tag in _BLOCKS:
                parts.append("\n")
            if not skipping and element.tail:
                parts.append(element.tail)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
# Elements that never nest (void) or that a parser closes by itself when the next one starts.
_FLAT = frozenset(
    {"br", "img", "hr", "meta", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed",
     "param", "p", "li", "td", "th", "tr", "option", "dt", "dd"}
)  # fmt: skip


def max_depth(html: str) -> int:
    """An estimate of how deeply the elements of ``html`` nest, read from its tags in one pass (an HTML5
    parser, unlike lxml's, builds every level of a deep document)."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        if match.group(2).lower() in _FLAT or match.group(3):
            continue
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def strip_trailing_text(html: str, text: str) -> str:
    """``html`` without the text ``text`` at its end (a signature the text rules found), so that the reply's
    HTML says what its text says; ``html`` itself when its visible text does not end with ``text``."""
    from lxml import etree

    wanted = "".join(text.split())
    document = _parse(html) if wanted else None
    if document is None:
        return html
    carriers: list[tuple[Any, str]] = []  # (element, "text" or "tail") in document order
    skipping = 0
    for event, element in etree.iterwalk(document.find("body"), events=("start", "end")):
        check()
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            skipping += tag in _SKIPPED
            if not skipping and tag and element.text:
                carriers.append((element, "text"))
        else:
            skipping -= tag in _SKIPPED
            if not skipping and element.tail:
                carriers.append((element, "tail"))
    values = ["".join(str(getattr(element, attribute)).split()) for element, attribute in carriers]
    whole = "".join(values)
    starts = set()
    position = 0
    for value in values:
        starts.add(position)
        position += len(value)
    # The HTML ends with the signature, or with its first part when a signature container (Gmail's) already
    # went: cut where that begins, at a block's start unless the whole signature matched.
    cut = next(
        (
            len(whole) - size
            for size in range(len(wanted), 1, -1)
            if whole.endswith(wanted[:size]) and (size == len(wanted) or len(whole) - size in starts)
        ),
        None,
    )
    if cut is None or not whole[:cut]:
        return html
    position = 0
    for (element, attribute), value in zip(carriers, values, strict=True):
        if position + len(value) <= cut:
            position += len(value)
            continue
        kept = str(getattr(element, attribute))
        if position >= cut:
            setattr(element, attribute, None)
            continue
        # the cut falls inside this text: keep its characters up to the cut
        need, index = cut - position, 0
        while need and index < len(kept):
            need -= not kept[index].isspace()
            index += 1
        setattr(element, attribute, kept[:index] or None)
        position += len(value)
    return _serialize(document)
