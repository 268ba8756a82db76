"""Reply extraction (the new content of a message, quoted history removed) and short previews.

talon runs first, guarded against its pathological inputs and its false cuts; agentinbox's own rules then take
out what it misses: attribution lines and header blocks in many languages (``attribution``), HTML quote
containers (``quote_html``), forwarded messages (``forwarded``), inline replies and the rest of the plain-text
cutting (``quote_text``), signatures (``signature``) and bounces (``bounce_text``); HTML comes out sanitized
(``sanitize``). Each message has a time budget (``budget``): past it, the whole body is kept.

Pure functions, no I/O; they never raise. talon is imported on first use only: its import takes about a second.
"""

from __future__ import annotations

import html as html_lib
import re
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from types import ModuleType

from . import attribution
from .bounce_text import human_readable
from .budget import budget, not_counted
from .forwarded import ForwardedMessage, find_forward_marker, parse_forwarded
from .quote_html import cut_html_quotes, prepare_for_talon, strip_trailing_text, visible_text
from .quote_text import history_start, split_reply
from .sanitize import sanitize_html
from .signature import split_signature

__all__ = [
    "Extraction",
    "ForwardedMessage",
    "extract_message",
    "extract_reply",
    "html_to_text",
    "make_preview",
]

# Guards against pathological input. talon's splitter regexes backtrack badly on some shapes (a 2 KB line of
# "On , On , …" takes seconds, 10 KB takes minutes), so beyond a size, or an estimated regex cost, talon is
# skipped and the body is kept whole.
MAX_TEXT_CHARS = 100_000
MAX_HTML_CHARS = 200_000
_COST_BUDGET = 2_000_000  # estimated backtracking steps: 10-20 ms of talon at worst (measured)
TEXT_BUDGET = 0.03  # seconds for one text body's rules (talon's estimated cost aside); then it is kept whole
HTML_BUDGET = 0.03  # the same for one HTML body
TOTAL_BUDGET = 0.04  # seconds for one message, both bodies
_TALON_MAX_LINES = 1000  # talon.quotations.MAX_LINES_COUNT: talon silently drops every line after it
_HEAD_LINES = 900  # longer texts go to talon in two parts (see _extract_text)
_TALON_MAX_TAGS = 419  # talon.utils._MAX_TAGS_COUNT: HTML with more "<" is returned as it is

_talon: ModuleType | None = None


def _quotations() -> ModuleType:
    """talon.quotations, imported once (talon.init() is not called: it would also load an ML classifier)."""
    global _talon
    if _talon is None:
        with not_counted():
            _talon = _import_talon()
    return _talon


def _import_talon() -> ModuleType:
    """Import talon.quotations and make its splitter test faster (the same patterns, the same result)."""
    from html5lib.constants import DataLossWarning
    from talon import quotations

    quotations.register_xpath_extensions()  # the "mg:" XPath functions its HTML cutting needs
    warnings.filterwarnings("ignore", category=DataLossWarning)  # html5lib, about odd attribute names
    patterns = quotations.SPLITTER_PATTERNS

    def is_splitter(line: str) -> object | None:
        # talon's own is_splitter, without regex.match()'s per-call pattern lookup (most of its cost);
        # the same patterns in the same order, so the same result.
        for pattern in patterns:
            matcher = pattern.match(line)
            if matcher:
                return matcher
        return None

    quotations.is_splitter = is_splitter
    # The first calls build caches (regex, lxml, html5lib) worth tens of milliseconds: pay for them here,
    # outside any message's time budget.
    quotations.extract_from_plain("Reply\n\nOn Mon, 2 Mar 2015, Bob <bob@example.com> wrote:\n> Hi")
    quotations.extract_from_html('<div>Reply</div><blockquote type="cite">Hi</blockquote>')
    return quotations


# --- pre-check: can talon change this text at all? ------------------------------------------------------
# talon (talon/quotations.py) changes a plain-text body only where a line starts with ">" (QUOT_PATTERN) or
# one of its SPLITTER_PATTERNS matches. Each test in _text_may_split is a superset of the talon regex named
# beside it, so a body that passes none comes back from talon as body.strip(). Substring tests come first: running
# alternations of regexes over every message would cost more than the 1 ms an ingest may take.
_ORIGINAL_MESSAGE = ("original message", "reply message", "ursprüngliche nachricht", "antwort nachricht",
                     "oprindelig meddelelse")  # fmt: skip
_ORIGINAL_MESSAGE_LOOSE = re.compile(
    r"(?:original|reply)\s*message|(?:ursprüngliche|antwort)\s*nachricht|oprindelig\s*meddelelse"
)
_COLON_WORDS = ("from", "van", "de", "von", "fra", "från", "date", "datum", "envoyé", "skickat", "sendt")
_ON_DATE_STARTS = ("On ", "Le ", "W dniu ", "Op ", "Am ", "På ", "Den ", "Vào ")
_ON_DATE_ENDS = ("wrote", "sent", "a écrit", "napisał", "schreef", "verzond", "geschreven", "schrieb", "skrev",
                 "đã viết")  # fmt: skip
_ON_DATE_START = re.compile("|".join(_ON_DATE_STARTS))
_ON_DATE_STARTS_LOOSE = ("On", "Le", "dniu", "Op", "Am", "På", "Den", "Vào")
_ON_DATE_ENDS_LOOSE = ("wrote", "sent", "écrit", "napisał", "schreef", "verzond", "geschreven", "schrieb", "skrev",
                       "viết")  # fmt: skip
_ANDROID_WROTE = re.compile(r"wrote *-")
_POLYMAIL = re.compile(r"<\smailto:")
_DATE_AT_LINE_START = re.compile(r"\n\d+([/.])\d+\1\d+")  # "02.04.2012 14:20 … bob@example.com"
_DATE_AT_LINE_START_LOOSE = re.compile(r"(?<!\d)\d+[/.]\d+[/.]\d")
_RFC_DATE = re.compile(r" 20\d\d,? \d\d?:\d\d")  # "Thu, 26 Jun 2014 14:00:51 +0400 Bob <bob@…>:"
_RFC_DATE_LOOSE = re.compile(r"20\d\d,?\s*\d\d?:\d\d")
# Line breaks str.splitlines() knows besides "\n" and "\r" (talon rejoins lines with one delimiter), and
# \x1f, which the regex module counts as a non-space and re as a space.
_ODD_CHARS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"


def _colon_splitter(folded: str, *, loose: bool) -> bool:
    """RE_FROM_COLON_OR_DATE_COLON: "From:", "Date:", "Von:" … at a line start (anywhere, when ``loose``)."""
    pos = folded.find(":")
    while pos != -1:
        head = folded[max(0, pos - 64) : pos]
        head = head.rstrip() if loose else head[:-1] if head[-1:].isspace() else head
        for word in _COLON_WORDS:
            if head.endswith(word):
                before = head[: -len(word)].removesuffix("*").removesuffix(":")
                if loose or not before or before[-1].isspace():
                    return True
        pos = folded.find(":", pos + 1)
    return False


def _text_may_split(text: str, folded: str) -> bool:
    """Whether talon may find a quotation marker or a splitter in ``text`` (``folded`` is its casefold)."""
    if text.startswith(">") or "\n>" in text:  # QUOT_PATTERN
        return True
    if any(words in folded for words in _ORIGINAL_MESSAGE):  # RE_ORIGINAL_MESSAGE
        return True
    if _colon_splitter(folded, loose=False):  # RE_FROM_COLON_OR_DATE_COLON
        return True
    if "wrote" in folded and _ANDROID_WROTE.search(folded):  # RE_ANDROID_WROTE
        return True
    if "mailto:" in folded and _POLYMAIL.search(folded):  # RE_POLYMAIL
        return True
    if "Sent from Samsung" in text:
        return True
    if any(end in text for end in _ON_DATE_ENDS) and any(start in text for start in _ON_DATE_STARTS):
        return True  # RE_ON_DATE_SMB_WROTE, RE_ON_DATE_WROTE_SMB
    if "@" in text or "<http://" in text:  # talon makes "<http://x>" "@@http://x@@" before these
        return "GMT" in text or bool(_RFC_DATE.search(text) or _DATE_AT_LINE_START.search("\n" + text))
    return False


def _html_text_may_split(rough: str, folded: str) -> bool:
    """``_text_may_split`` for a rough rendering of HTML (see ``_rough_text``), where talon may join text
    fragments with or without a space and line starts are not known: every test is looser."""
    if ">" in rough or _colon_splitter(folded, loose=True) or "wrote" in folded or "samsung" in folded:
        return True
    if (
        "message" in folded or "nachricht" in folded or "meddelelse" in folded
    ) and _ORIGINAL_MESSAGE_LOOSE.search(folded):
        return True
    if any(end in rough for end in _ON_DATE_ENDS_LOOSE) and any(
        start in rough for start in _ON_DATE_STARTS_LOOSE
    ):
        return True
    if "@" in rough or "<http://" in rough:
        return "gmt" in folded or bool(
            _RFC_DATE_LOOSE.search(rough) or _DATE_AT_LINE_START_LOOSE.search(rough)
        )
    return False


def _links_survive(text: str) -> bool:
    """Whether talon's round trip "<http://x>" → "@@http://x@@" → "<http://x>" gives ``text`` back."""
    if "@@" in text:
        return False
    start = text.find("<http://")
    while start != -1:
        end = text.find(">", start)
        if end == -1:
            return True
        if text.find("@", start, end) != -1:
            return False
        start = text.find("<http://", end)
    return True


def _unchanged_by_talon(text: str) -> bool:
    """True when talon's plain-text extraction would return exactly ``text.strip()`` (conservative)."""
    if any(char in text for char in _ODD_CHARS) or text.count("\n") >= _TALON_MAX_LINES:
        return False
    if "\r" in text and not text.count("\r") == text.count("\r\n") == text.count("\n"):
        return False  # mixed line endings: talon rejoins lines with the first one it finds
    return not _text_may_split(text, text.casefold()) and _links_survive(text)


# --- cost estimate: would talon's regexes take too long? ------------------------------------------------
# One pass over the line starts for three costs (a line starts in at most one of these ways):
# RE_ANDROID_WROTE, leading dashes × line; "Sent from Samsung", "@" × line; RE_POLYMAIL, "<" × its 6-line window.
_LINE_START_COSTS = re.compile(r"^(?:[^\S\n]*(-+)|(Sent from Samsung )|(?i:On))", re.MULTILINE)
_COMMA_WEIGHT = 5  # RE_ON_DATE_SMB_WROTE is run twice and its steps are slower (measured)


def _regex_cost(text: str) -> int:
    """A rough upper estimate of the backtracking steps of talon's super-linear regexes on ``text``."""
    size = len(text)

    def end_of_line(pos: int, more_lines: int = 0) -> int:
        for _ in range(more_lines + 1):
            pos = text.find("\n", pos + 1)
            if pos == -1:
                return size
        return pos

    cost = 0
    # RE_ON_DATE_SMB_WROTE (searched everywhere): after a start word, every comma rescans up to three lines;
    # RE_ON_DATE_WROTE_SMB (at a line start, "Op"/"Am"): every position of the line does.
    for match in _ON_DATE_START.finditer(text):
        pos = match.start()
        eol, window = end_of_line(pos), end_of_line(pos, 2)
        commas = text.count(",", pos, eol) + text.count("użytkownik", pos, eol)
        cost += eol - pos + _COMMA_WEIGHT * commas * (window - pos)
        line_start = text.rfind("\n", 0, pos) + 1
        if match.group() in ("Op ", "Am ") and re.fullmatch(r"-*>? ?", text[line_start:pos]):
            cost += (eol - pos) * (window - pos)
        if cost > _COST_BUDGET:
            return cost
    for match in _LINE_START_COSTS.finditer(text):
        dashes, samsung = match.group(1, 2)
        if dashes is not None:
            cost += len(dashes) * (end_of_line(match.start()) - match.start())
        elif samsung is not None:
            eol = end_of_line(match.start())
            cost += text.count("@", match.start(), eol) * (eol - match.start())
        else:
            window = end_of_line(match.start(), 5)
            cost += text.count("<", match.start(), window) * (window - match.start())
    # RE_LINK: each "<http://" scans to the next ">"; with none left, to the end of the text.
    start = text.find("<http://", text.rfind(">") + 1)
    while start != -1 and cost <= _COST_BUDGET:
        cost += size - start
        start = text.find("<http://", start + 1)
    return cost


# --- plain text ------------------------------------------------------------------------------------------
_SPLITTER_START = re.compile(
    r"^[^\S\n]*(?:-+[^\S\n]*)?(?:On|Le|W dniu|Op|Am|På|Den|Vào|From|Date|Von|De|Fra|Från|Van)\b", re.M
)
_MAX_SPLITTERS = 40  # talon's marker regex ("(se*)+((t|f)+e*)+") backtracks badly over long runs of them


def _many_splitters(text: str) -> bool:
    """Whether ``text`` has so many lines that may be splitters that talon's marker regexes would crawl."""
    return any(count > _MAX_SPLITTERS for count, _ in enumerate(_SPLITTER_START.finditer(text), 1))


def _extract_text(text: str) -> str:
    stripped = text.strip()
    if not stripped or len(text) > MAX_TEXT_CHARS or _unchanged_by_talon(text):
        return stripped
    if _regex_cost(text) > _COST_BUDGET or _many_splitters(text):
        return stripped
    lines = text.splitlines()
    if len(lines) <= _HEAD_LINES:
        return _quotations().extract_from_plain(text).strip() or stripped
    # talon reads only its first 1,000 lines (after inserting a line break before some splitters) and drops
    # the rest. Give it a head that fits, and put the rest back when it found nothing there, or when it cut
    # a block out of the middle (the end of the head survived); when it cut the end, the rest was quoted too.
    head = "\n".join(lines[:_HEAD_LINES])
    result = _quotations().extract_from_plain(head).strip()
    if result.split() == head.split():
        return stripped
    last = next((line.strip() for line in reversed(lines[:_HEAD_LINES]) if line.strip()), "")
    if result and result.splitlines()[-1].strip() == last:
        return (result + "\n" + "\n".join(lines[_HEAD_LINES:])).strip()
    return result or stripped


# --- HTML ------------------------------------------------------------------------------------------------
# talon's HTML path cuts blockquotes, Gmail/Zimbra/Outlook quote blocks and "From:"/"Date:" blocks, then runs
# the plain-text algorithm over its own text rendering. Markup hints are searched in the raw HTML, text hints
# (looser than the plain-text ones: fragments may be joined with or without a space) in a rough rendering.
_HTML_MARKUP_HINTS = ("blockquote", "gmail_quote", "data-marker", "border-top", "tabindex",
                      "olk_src_body_section")  # fmt: skip
_HTML_BREAK_TAG = re.compile(r"</?(?:div|p|ul|ol|li|h[1-6]|br|hr|tr|table|blockquote|pre)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[a-zA-Z/!?][^>]*>")
_HTML_TAG_START = re.compile(r"<[a-zA-Z/!?]")
_HTML_COMMENT_END = re.compile(r"--!?>")
_HTML_HREF = re.compile(r"""\shref\s*=\s*(?:"([^">]*)"|'([^'>]*)'|([^\s>]+))""", re.I)


def _without_open_tail(html: str) -> str:
    """``html`` less an unterminated tag or comment at its end: parsers drop it, and rescanning it for a
    closing ">" makes html.parser (and regexes) quadratic."""
    last = html.rfind(">")
    match = _HTML_TAG_START.search(html, last + 1)
    return html if match is None else html[: match.start()]


def _without_comments(html: str) -> str:
    """``html`` without its comments, in one pass (a regex would rescan unterminated ones)."""
    parts, pos = [], 0
    while (start := html.find("<!--", pos)) != -1:
        parts.append(html[pos:start])
        if html.startswith((">", "->"), start + 4):  # "<!-->" and "<!--->" close at once
            pos = html.index(">", start + 4) + 1
            continue
        end = _HTML_COMMENT_END.search(html, start + 4)
        if end is None:
            return "".join(parts)
        pos = end.end()
    parts.append(html[pos:])
    return "".join(parts)


def _rough_text(html: str) -> str:
    """The text of ``html`` as talon's rendering would roughly lay it out, with link targets appended."""
    html = _without_comments(_without_open_tail(html))
    body = _HTML_TAG.sub("", _HTML_BREAK_TAG.sub("\n", html))
    hrefs = " ".join("".join(groups) for groups in _HTML_HREF.findall(html))
    return html_lib.unescape(body + "\n" + hrefs)


def _html_unchanged_by_talon(html: str, rough: str) -> bool:
    """True when talon's HTML extraction would give ``html`` back (line endings normalised; conservative)."""
    lowered = html.lower()
    if any(hint in lowered for hint in _HTML_MARKUP_HINTS):
        return False
    # cut_from_block (an element whose text starts with "From:" or "Date:") is among the text tests
    return not _html_text_may_split(rough, rough.casefold())


def _extract_html(html: str) -> str:
    if not html.strip(" \t\n\r\x0b\x0c") or len(html) > MAX_HTML_CHARS:
        return html
    if html.count("<") > _TALON_MAX_TAGS:
        return html.replace("\r\n", "\n")  # talon does not parse it either
    rough = _rough_text(html)
    if _html_unchanged_by_talon(html, rough):
        return html.replace("\r\n", "\n")
    if _regex_cost(rough) > _COST_BUDGET:
        return html
    return _quotations().extract_from_html(html)


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a message adds to its conversation: the reply ``text`` and ``html`` (quoted history, signature and
    any forwarded message taken out), its ``signature``, and the ``forwarded`` message it carries.

    ``full_text``/``full_html`` are the new content with signature and forwarded message left in, as
    :func:`extract_reply` gives them.
    """

    text: str | None
    html: str | None
    signature: str | None = None
    forwarded: ForwardedMessage | None = None
    full_text: str | None = None
    full_html: str | None = None


def _talon_cut_is_plausible(original: list[str], result: str) -> bool:
    """Whether talon cut where quoted history really starts. Its splitters also fire on a lone "Date:" line
    or a line starting with a date ("Date: Thursday, 6 March" in an invitation); such a cut is refused
    unless the first line it removed is a quote marker, a boundary agentinbox's rules know, or names an
    address."""
    kept = result.split("\n")
    index = 0
    while index < len(kept) and index < len(original) and kept[index].rstrip() == original[index].rstrip():
        index += 1
    while index < len(original) and not original[index].strip():
        index += 1
    if index >= len(original):
        return True
    line = original[index]
    if line.lstrip().startswith(">") or _EMAIL_IN_LINE.search(line) or attribution.looks_like_lead(line):
        return True
    following = next((later for later in original[index + 1 : index + 4] if later.strip()), "")
    if attribution.header_key(line) is not None and following.lstrip().startswith(">"):
        return True  # "Date: Wed, 07 Jan 2015 20:31:07 -0500" above a quote
    boundary = attribution.find_boundary(original[index : index + 12])
    return boundary is not None and boundary.index == 0


_EMAIL_IN_LINE = re.compile(r"\S@[\w-]+\.|mailto:|\bwrote\b|<\s*$")


def _talon_stage(text: str) -> str:
    """talon's plain-text extraction, guarded: kept only when its cut is plausible."""
    stripped = text.strip()
    try:
        first = _extract_text(text)
    except Exception:
        return stripped
    first = first.replace("\r\n", "\n").replace("\r", "\n")
    if first != stripped and not _talon_cut_is_plausible(stripped.split("\n"), first):
        return stripped
    return first


def _split_text(text: str) -> tuple[str, str | None, ForwardedMessage | None, str]:
    """(reply, signature, forwarded, whole new content) of a plain-text body; the whole body (stripped)
    when it is too large or its rules run out of time."""
    stripped = text.strip()
    if not stripped or len(text) > MAX_TEXT_CHARS:
        return stripped, None, None, stripped
    try:
        with budget(TEXT_BUDGET):
            return _split_text_rules(stripped)
    except Exception:  # BudgetExceeded included: nothing is cut rather than something wrongly
        return stripped, None, None, stripped


def _split_text_rules(stripped: str) -> tuple[str, str | None, ForwardedMessage | None, str]:
    normalised = stripped.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n")
    report = human_readable(lines)
    if report is not None:  # a bounce: its report is the new content, as written
        body = "\n".join(report).strip() or normalised
        return body, None, None, body
    forwarded: ForwardedMessage | None = None
    marker = find_forward_marker(lines)
    if marker is not None:
        boundary = attribution.find_boundary(lines[:marker])
        if boundary is None:  # a forward, not a forward inside quoted history
            forwarded = parse_forwarded(lines[marker:])
            normalised = "\n".join(lines[:marker]).strip()
    try:
        # Quoted history that agentinbox's rules find for certain is not given to talon: its cost grows
        # with every line, and it would cut there (or earlier) too.
        lines = normalised.split("\n")
        history = history_start(lines)
        if history is not None and "\n".join(lines[:history]).strip():
            normalised = "\n".join(lines[:history])
        first = _talon_stage(normalised) if normalised else ""
        reply, inner = split_reply(first) if first else ("", None)
        forwarded = forwarded or inner
        body, signature = split_signature(reply)
    except Exception:
        return stripped, None, None, stripped
    whole = reply if forwarded is None else f"{reply}\n\n{forwarded.text}".strip()
    return body, signature, forwarded, whole


def _split_html(html: str) -> tuple[str, str]:
    """(reply HTML, whole new content HTML), both sanitized; talon's cut alone (or the whole body) when
    agentinbox's rules run out of time."""
    if not html.strip(" \t\n\r\x0b\x0c"):
        return html, html
    try:
        with budget(HTML_BUDGET):
            note, forwarded = prepare_for_talon(html)
    except Exception:
        note, forwarded = html, None
    try:
        cut = _extract_html(note)
    except Exception:
        cut = note
    try:
        with budget(HTML_BUDGET):
            whole, reply = cut_html_quotes(cut)
    except Exception:
        whole = reply = cut
    if forwarded is not None:
        whole = f"{whole}\n{forwarded}"
    safe_whole = sanitize_html(whole)
    return (safe_whole if reply == whole else sanitize_html(reply)), safe_whole


def extract_message(text: str | None, html: str | None) -> Extraction:
    """The new content of a message, split into reply, signature and forwarded message. Never raises.

    talon runs first; agentinbox's own rules (localized attributions and header blocks, HTML quote
    containers, forwards, inline replies, signatures, bounces) then take out what it left. The text is
    stripped and never emptied; the HTML is sanitized (safe to render). When there is no text, it is
    made from the HTML.
    """
    try:
        with budget(TOTAL_BUDGET):
            return _extract_message(text, html)
    except Exception:  # a last resort: every stage already keeps the whole body when it fails
        stripped = text.strip() if text is not None else None
        try:
            safe = sanitize_html(html) if html is not None else None
        except Exception:
            safe = html_lib.escape(html) if html is not None else None
        return Extraction(stripped, safe, full_text=stripped, full_html=safe)


def _extract_message(text: str | None, html: str | None) -> Extraction:
    reply_html = whole_html = None
    if html is not None:
        reply_html, whole_html = _split_html(html)
    if text is None and reply_html is not None and whole_html is not None and reply_html.strip():
        # the reply text made from the HTML's new content, for readers that take text only
        body, signature, forwarded, _ = _split_text(visible_text(whole_html))
        return Extraction(body, _without(reply_html, signature), signature, forwarded, None, whole_html)
    if text is None:
        return Extraction(None, reply_html, full_html=whole_html)
    body, signature, forwarded, whole = _split_text(text)
    return Extraction(body, _without(reply_html, signature), signature, forwarded, whole, whole_html)


def _without(html: str | None, signature: str | None) -> str | None:
    """The reply's HTML less the signature its text ended with (sanitized HTML stays sanitized: only text
    is taken out)."""
    if html is None or not signature:
        return html
    try:
        return strip_trailing_text(html, signature)
    except Exception:
        return html


def extract_reply(text: str | None, html: str | None) -> tuple[str | None, str | None]:
    """``(extracted_text, extracted_html)``: only the new content of a message, its quoted history removed
    (signature and forwarded message kept; :func:`extract_message` splits them off).

    Never raises. The text is stripped and never emptied; the HTML is sanitized.
    """
    extraction = extract_message(text, html)
    return extraction.full_text, extraction.full_html


# --- previews --------------------------------------------------------------------------------------------
_SKIPPED_TAGS = frozenset({"script", "style", "title", "template"})
_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "form", "h1", "h2",
     "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"}
)  # fmt: skip
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_PREVIEW_CHUNK = 8192


class _TextCollector(HTMLParser):
    """Collects the visible text of a document: block tags become line breaks, scripts and styles vanish."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping.append(tag)
        elif tag == "body":
            self._skipping.clear()  # an unclosed <title> in the head hides nothing of the body
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)
            self.size += len(data.strip())


def _visible_text(html: str, *, enough: int | None = None) -> str:
    """The visible text of ``html``; with ``enough``, stop reading once about that much text is found."""
    collector = _TextCollector()
    html = _without_open_tail(html)
    try:
        if enough is None:
            collector.feed(html)
            collector.close()
        else:  # a preview needs the first few hundred characters, not the whole newsletter
            for start in range(0, len(html), _PREVIEW_CHUNK):
                collector.feed(html[start : start + _PREVIEW_CHUNK])
                if collector.size >= enough:
                    break
            else:
                collector.close()
    except Exception:  # html.parser is lenient, but keep whatever it collected
        pass
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(collector.parts).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """The visible text of ``html``: entities decoded, scripts and styles dropped, one line per block."""
    return _visible_text(html)


def make_preview(text: str | None, html: str | None, *, length: int = 200) -> str | None:
    """A one-line preview of at most ``length`` characters, cut at a word boundary (``…`` marks the cut).

    From ``text``, or from ``html`` when there is no text; None when neither has any.
    """
    source = text if text and text.strip() else (_visible_text(html, enough=4 * length) if html else "")
    flat = " ".join(source.split())
    if not flat:
        return None
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
