"""Reply extraction and previews (agentinbox.mail.extract), on hand-made fixtures and the shared corpora."""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentinbox.mail import extract
from agentinbox.mail.extract import extract_message, extract_reply, html_to_text, make_preview

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

GMAIL_TEXT = """Sounds good, see you at 3.

Ann

On Mon, Mar 2, 2015 at 10:07 AM, Bob Smith <bob@example.com> wrote:

> Can we meet tomorrow?
>
> Bob
"""

OUTLOOK_TEXT = """Approved, go ahead.\r
\r
-----Original Message-----\r
From: Bob Smith [mailto:bob@example.com]\r
Sent: Monday, March 02, 2015 10:07 AM\r
To: Ann\r
Subject: Budget\r
\r
Please approve the budget.\r
"""

GMAIL_HTML = (
    '<div dir="ltr">Thanks, that works for me.<br><br>Ann</div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Mar 2, 2015 at 10:07 AM Bob '
    '&lt;<a href="mailto:bob@example.com">bob@example.com</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">'
    '<div dir="ltr">Does Tuesday work?<br></div></blockquote></div>'
)


# --- extract_reply -----------------------------------------------------------------------------------------
def test_gmail_text_reply_drops_the_quote() -> None:
    assert extract_reply(GMAIL_TEXT, None) == ("Sounds good, see you at 3.\n\nAnn", None)


def test_outlook_original_message_is_cut() -> None:
    text, html = extract_reply(OUTLOOK_TEXT, None)
    assert text == "Approved, go ahead."
    assert html is None


def test_text_without_quotes_is_only_stripped_and_skips_talon(monkeypatch: pytest.MonkeyPatch) -> None:
    body = "  Hi Bob,\n\nThe report is attached - numbers: 1, 2, 3.\nSee http://example.com/x\n\nAnn\n"
    monkeypatch.setattr(extract, "_quotations", _no_talon)
    assert extract_reply(body, None) == (body.strip(), None)


def test_gmail_html_reply_drops_the_quote() -> None:
    text, html = extract_reply(None, GMAIL_HTML)
    assert text is None
    assert html is not None and "<html>" not in html  # sanitized: a fragment, safe to render
    assert "Tuesday" not in html and "gmail_quote" not in html
    assert html_to_text(html) == "Thanks, that works for me.\n\nAnn"


def test_html_without_quotes_comes_back_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "_quotations", _no_talon)
    html = "<p>Hello <b>world</b>,</p>\r\n<p>see you&nbsp;soon.</p>"
    assert extract_reply(None, html) == (None, html.replace("\r\n", "\n"))  # talon normalises line ends too


@pytest.mark.parametrize(
    ("text", "html", "expected"),
    [
        (None, None, (None, None)),
        ("", None, ("", None)),
        (" \n\t\n", None, ("", None)),
        (None, "", (None, "")),
        (None, "  \n", (None, "  \n")),
    ],
)
def test_empty_and_missing_inputs(text: str | None, html: str | None, expected: tuple) -> None:
    assert extract_reply(text, html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "<<<>>><div<p",
        "</div></div></html><html>",
        "<div>" * 300 + "x",
        "<a href='mailto:",
        "&#xffffffff; &bogus;",
    ],
)
def test_garbage_html_never_raises(html: str) -> None:
    text, extracted = extract_reply("> quoted\n> more\n> lines\nreply", html)
    assert isinstance(text, str) and isinstance(extracted, str)
    assert isinstance(html_to_text(html), str)
    make_preview(None, html)


def test_a_talon_failure_leaves_the_cutting_to_agentinbox_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def extract_from_plain(self, text: str) -> str:
            raise RuntimeError("boom")

        def extract_from_html(self, html: str) -> str:
            raise ValueError("boom")

    monkeypatch.setattr(extract, "_quotations", Broken)
    text, html = extract_reply(GMAIL_TEXT, GMAIL_HTML)
    assert text == "Sounds good, see you at 3.\n\nAnn"
    assert html is not None and html_to_text(html) == "Thanks, that works for me.\n\nAnn"


def test_text_is_never_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    class Empty:
        def extract_from_plain(self, text: str) -> str:
            return ""

    monkeypatch.setattr(extract, "_quotations", Empty)
    assert extract_reply(GMAIL_TEXT, None)[0] == "Sounds good, see you at 3.\n\nAnn"
    all_quote = "On Mon, Mar 2, 2015 at 10:07 AM, Bob <bob@example.com> wrote:\n> Can we meet?\n> Bob\n"
    assert extract_reply(all_quote, None)[0] == all_quote.strip()
    assert extract_message(all_quote, None).text == all_quote.strip()


def test_long_texts_keep_what_talon_would_drop_after_its_line_limit() -> None:
    body = "\n".join(f"line {n} of a long log" for n in range(1500))
    quoted = "Short answer.\n\n" + "> quoted\n" * 5 + body  # talon runs (quote markers), finds a block
    assert extract_reply(quoted, None)[0].endswith("line 1499 of a long log")
    reply = "See below.\n\nOn Mon, Mar 2, 2015 at 10:07 AM, Bob <bob@example.com> wrote:\n" + body
    assert extract_reply(reply, None)[0] == "See below."


def test_pathological_inputs_return_quickly() -> None:
    cases = [
        "On , On , " * 300 + "\n\n\nwrote",  # talon alone: about 3 s (its splitter regex is cubic)
        "Am " + "x" * 20_000,  # quadratic in talon
        "-" * 20_000,
        "<http://a" * 10_000,
        "> quote\nOn x, y wrote:\n" * 20_000,  # over the size limit
    ]
    for text in cases:
        start = time.perf_counter()
        extracted, _ = extract_reply(text, "<p>" + text + "</p>")
        assert extracted == text.strip()
        assert time.perf_counter() - start < 1.0, text[:20]


def test_import_does_not_load_talon() -> None:
    code = "import sys, agentinbox.mail.extract; sys.exit('talon' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- make_preview and html_to_text -------------------------------------------------------------------------
def test_preview_is_one_line_cut_at_a_word() -> None:
    text = "Hello   there,\n\nthis is\ta long message " + "with many words " * 30
    preview = make_preview(text, None, length=50)
    assert preview is not None and "\n" not in preview and "  " not in preview
    assert len(preview) <= 50 and preview.endswith("…")
    assert text.startswith("Hello") and " ".join(text.split()).startswith(preview[:-1])
    assert make_preview("short text\n", None) == "short text"


def test_preview_falls_back_to_html() -> None:
    html = "<html><head><style>p {color: red}</style><script>var x = 1;</script></head><body><p>Caf&eacute; &amp; co</p>"
    assert make_preview(None, html) == "Café & co"
    assert make_preview("  ", html) == "Café & co"
    assert make_preview(None, None) is None
    assert make_preview("", "<p> </p>") is None


def test_html_to_text() -> None:
    html = "<div>One<br>two</div><p>three &lt;3&gt;</p><ul><li>a</li><li>b</li></ul><script>alert(1)</script>"
    assert html_to_text(html) == "One\ntwo\n\nthree <3>\n\na\n\nb"
    assert html_to_text("") == ""


def test_html_to_text_is_linear_on_unterminated_markup() -> None:
    for html in ("<a" * 50_000, "<!--" * 50_000, '<a href="' * 20_000, "<p>x</p>" + "<b" * 50_000):
        start = time.perf_counter()
        html_to_text(html)
        make_preview(None, html)
        assert time.perf_counter() - start < 1.0, html[:10]


# --- the pre-check agrees with talon on every corpus body ----------------------------------------------
_MBOX_SEPARATOR = re.compile(rb"^From \S+ at \S+\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}\r?\n", re.MULTILINE)


def _no_talon() -> None:
    raise AssertionError("talon should not be needed here")


def _parts(raw: bytes) -> list[tuple[str, str]]:
    """(content type, decoded text) of every text/plain and text/html part of a message."""
    parts = []
    for part in email.message_from_bytes(raw).walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            if payload:
                try:
                    parts.append(
                        (part.get_content_type(), payload.decode(part.get_content_charset() or "utf-8"))
                    )
                except (LookupError, UnicodeDecodeError):
                    parts.append((part.get_content_type(), payload.decode("utf-8", "replace")))
    return parts


@pytest.fixture(scope="module")
def corpus_bodies() -> tuple[set[str], set[str]]:
    """Every distinct plain-text and HTML body in the shared corpora."""
    if not CORPORA.is_dir():
        pytest.skip(f"the shared corpora are not at {CORPORA}")
    texts: set[str] = set()
    htmls: set[str] = set()
    for case in json.loads((CORPORA / "talon" / "expectations.json").read_text())[
        "plain_text_reply_extraction"
    ]["cases"]:
        texts.add(case["input"])
    mbox = (CORPORA / "mbox_r_devel" / "r-devel-2015.mbox").read_bytes()
    messages = [raw for raw in _MBOX_SEPARATOR.split(mbox) if raw.strip()]
    for path in sorted(CORPORA.rglob("*")):
        if (
            not path.is_file()
            or path.suffix == ".json"
            or path.name == "SOURCE.txt"
            or path.suffix == ".mbox"
        ):
            continue
        data = path.read_bytes()
        if path.parent.name == "emails" and path.suffix == ".txt":  # bare bodies, not messages
            texts.add(data.decode("utf-8", "replace"))
        elif path.suffix == ".html":
            htmls.add(data.decode("utf-8", "replace"))
        elif len(data) < 4_000_000:
            messages.append(data)
    for raw in messages:
        for content_type, body in _parts(raw):
            (texts if content_type == "text/plain" else htmls).add(body)
    return texts, htmls


def test_text_precheck_skips_only_what_talon_leaves_alone(corpus_bodies: tuple[set[str], set[str]]) -> None:
    talon = extract._quotations()
    skipped = [text for text in corpus_bodies[0] if extract._unchanged_by_talon(text)]
    assert len(skipped) > 300  # the check is not vacuous: about a quarter of the bodies have no quote
    wrong = [text[:80] for text in skipped if talon.extract_from_plain(text) != text.strip()]
    assert wrong == []


def test_html_precheck_skips_only_what_talon_leaves_alone(corpus_bodies: tuple[set[str], set[str]]) -> None:
    talon = extract._quotations()
    skipped = [
        html
        for html in corpus_bodies[1]
        if html.strip()
        and html.count("<") <= 419
        and extract._html_unchanged_by_talon(html, extract._rough_text(html))
    ]
    assert len(skipped) > 10
    wrong = [html[:80] for html in skipped if talon.extract_from_html(html) != html.replace("\r\n", "\n")]
    assert wrong == []


def test_corpus_bodies_come_back_nonempty(corpus_bodies: tuple[set[str], set[str]]) -> None:
    for text in corpus_bodies[0]:
        extracted, _ = extract_reply(text, None)
        assert extracted is not None and bool(extracted) == bool(text.strip())
