"""Composing outgoing mail: input checks, the MIME tree, round trips through parse_message, replies."""

from __future__ import annotations

import base64
import email
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import Message
from typing import Any

import pytest

from agentinbox.errors import ValidationError
from agentinbox.mail.addresses import Address
from agentinbox.mail.compose import (
    OutgoingAttachment,
    attribution_line,
    check_custom_headers,
    check_header_value,
    compose_message,
    forward_body,
    forward_subject,
    make_message_id,
    quote_html,
    quote_text,
    reply_body,
    reply_recipients,
    reply_subject,
    resolve_attachment,
)
from agentinbox.mail.parse import parse_message

DATE = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


def compose(**overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_": "Agent <agent@agents.example.com>",
        "to": ["bob@example.org"],
        "cc": [],
        "reply_to": [],
        "subject": "Hello",
        "text": "Hi Bob",
        "html": None,
        "attachments": [],
        "headers": {},
        "message_id": "<id1@agents.example.com>",
        "date": DATE,
    }
    arguments.update(overrides)
    return compose_message(**arguments)


def tree(message: Message) -> Any:
    """The MIME structure as nested (content type, children) tuples or plain content types."""
    if message.is_multipart():
        return (message.get_content_type(), [tree(part) for part in message.get_payload()])  # type: ignore[union-attr]
    return message.get_content_type()


def load(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=policy.compat32)


def load_default(raw: bytes) -> Any:
    """Parsed by the stdlib's strict, modern parser: an independent check of what we write."""
    return email.message_from_bytes(raw, policy=policy.default)


def attachment(**overrides: Any) -> OutgoingAttachment:
    arguments: dict[str, Any] = {
        "filename": None,
        "content_type": None,
        "content_disposition": None,
        "content_id": None,
        "content": None,
        "url": None,
        "field_path": ["attachments", 0],
    }
    arguments.update(overrides)
    return resolve_attachment(**arguments)


def assert_wire_safe(raw: bytes) -> None:
    """CRLF only, no line over RFC 5322's 998 characters, 7-bit clean."""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.isascii()


# -- check_header_value -------------------------------------------------------------------------------


def test_check_header_value_accepts_and_returns() -> None:
    assert check_header_value("Quarterly report – Q3 ✓", field="subject") == "Quarterly report – Q3 ✓"
    assert check_header_value("", field="subject") == ""


@pytest.mark.parametrize("value", ["a\r\nBcc: x@example.com", "a\nb", "a\rb", "a\x00b"])
def test_check_header_value_refuses_injection(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_header_value(value, field="subject")
    assert info.value.errors[0]["path"] == ["subject"]
    assert "line break" in info.value.message


def test_check_header_value_refuses_non_strings() -> None:
    with pytest.raises(ValidationError, match="string"):
        check_header_value(5, field="subject")  # type: ignore[arg-type]


# -- check_custom_headers -----------------------------------------------------------------------------


def test_custom_headers_accepted() -> None:
    headers = {
        "X-Ticket-Id": "42",
        "List-Unsubscribe": "<mailto:u@example.com>",
        "X-Note": "Grüße",
        "Keywords": "",
    }
    assert check_custom_headers(headers) == headers
    assert check_custom_headers(headers) is not headers
    assert check_custom_headers(None) == {}
    assert check_custom_headers({}) == {}


@pytest.mark.parametrize(
    "name",
    [
        "From",
        "to",
        "CC",
        "bcc",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "message-id",
        "In-Reply-To",
        "References",
        "MIME-Version",
        "Content-Type",
        "content-transfer-encoding",
        "Content-Disposition",
        "Sender",
        "Return-Path",
        "Received",
        "DKIM-Signature",
        "Content-ID",
        "Content-Language",
    ],
)
def test_custom_headers_refuse_structural(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_custom_headers({name: "x"})
    assert info.value.errors[0]["path"] == ["headers", name]
    assert "cannot be set" in info.value.message


def test_custom_headers_point_to_the_argument() -> None:
    with pytest.raises(ValidationError, match="'reply_to' argument"):
        check_custom_headers({"Reply-To": "x@example.com"})


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "", "Ünïcode", "X-Tab\t", "X-New\r\nLine", 5])
def test_custom_headers_refuse_bad_names(name: Any) -> None:
    with pytest.raises(ValidationError, match="header name"):
        check_custom_headers({name: "x"})


@pytest.mark.parametrize("value", ["a\r\nBcc: victim@example.com", "a\nb", "a\rb", "a\x00b"])
def test_custom_headers_refuse_injection_in_values(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_custom_headers({"X-Ok": value})
    assert info.value.errors[0]["path"] == ["headers", "X-Ok"]


def test_custom_headers_refuse_duplicates_and_wrong_types() -> None:
    with pytest.raises(ValidationError, match="twice"):
        check_custom_headers({"X-A": "1", "x-a": "2"})
    with pytest.raises(ValidationError, match="string value"):
        check_custom_headers({"X-A": 1})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="mapping"):
        check_custom_headers([("X-A", "1")])  # type: ignore[arg-type]


# -- resolve_attachment -------------------------------------------------------------------------------


def test_attachment_from_base64() -> None:
    result = attachment(filename="report.pdf", content=base64.b64encode(PDF).decode())
    assert result == OutgoingAttachment(
        content=PDF, filename="report.pdf", content_type="application/pdf", content_disposition="attachment"
    )


def test_attachment_from_wrapped_base64_and_bytes() -> None:
    wrapped = base64.encodebytes(PDF * 20).decode()
    assert "\n" in wrapped
    assert attachment(content=wrapped).content == PDF * 20
    assert attachment(content=PDF).content == PDF
    assert attachment(content=bytearray(PDF)).content == PDF
    assert attachment(content="").content == b""


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not base64!", "base64"),
        ("YWJj-_", "base64"),  # the URL-safe alphabet
        ("YWJjZA", "base64"),  # missing padding
        ("data:application/pdf;base64,JVBERi0=", "data:"),
        ("  DATA:text/plain;base64,YQ==", "data:"),
    ],
)
def test_attachment_refuses_bad_content(content: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        attachment(content=content)
    assert fragment in info.value.message
    assert info.value.errors[0]["path"] == ["attachments", 0, "content"]


def test_attachment_refuses_other_content_types() -> None:
    with pytest.raises(ValidationError, match="base64 text or bytes"):
        attachment(content=123)


def test_attachment_by_url_is_not_supported() -> None:
    with pytest.raises(ValidationError) as info:
        attachment(url="https://example.com/a.pdf")
    assert "attachments by url are not supported; pass content" in info.value.message
    assert info.value.errors[0]["path"] == ["attachments", 0, "url"]


def test_attachment_needs_exactly_one_of_content_and_url() -> None:
    with pytest.raises(ValidationError, match="not both"):
        attachment(content="YQ==", url="https://example.com/a")
    with pytest.raises(ValidationError, match="needs content"):
        attachment()


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("report.pdf", "application/pdf"),
        ("REPORT.PDF", "application/pdf"),
        ("logo.png", "image/png"),
        ("notes.txt", "text/plain"),
        ("photo.jpeg", "image/jpeg"),
        ("archive.tar.gz", "application/gzip"),
        ("saved.eml", "message/rfc822"),
        ("data.unknownext", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
        ("report:2024.pdf", "application/pdf"),
        (None, "application/octet-stream"),
    ],
)
def test_attachment_content_type_inferred(filename: str | None, content_type: str) -> None:
    assert attachment(filename=filename, content=b"x").content_type == content_type


def test_attachment_explicit_content_type() -> None:
    assert attachment(filename="a.pdf", content_type="Text/CSV", content=b"x").content_type == "text/csv"
    assert attachment(content_type="text/plain; charset=utf-8", content=b"x").content_type == "text/plain"


@pytest.mark.parametrize(
    "content_type", ["pdf", "text/", "/plain", "text/pl ain", "text/plain\r\nX: y", "multipart/mixed"]
)
def test_attachment_refuses_bad_content_types(content_type: str) -> None:
    with pytest.raises(ValidationError):
        attachment(content_type=content_type, content=b"x")


@pytest.mark.parametrize(
    "filename", ["a\r\nb.txt", "a\nb.txt", "a\x00.txt", "../etc/passwd", "dir/a.txt", "C:\\a.txt"]
)
def test_attachment_refuses_unsafe_filenames(filename: str) -> None:
    with pytest.raises(ValidationError) as info:
        attachment(filename=filename, content=b"x")
    assert info.value.errors[0]["path"] == ["attachments", 0, "filename"]


def test_attachment_unicode_filename() -> None:
    assert attachment(filename="résumé 履歴書.pdf", content=b"x").filename == "résumé 履歴書.pdf"


def test_attachment_disposition() -> None:
    assert attachment(content=b"x").content_disposition == "attachment"
    inline = attachment(content=PNG, filename="logo.png", content_id="<logo@example.com>")
    assert (inline.content_disposition, inline.content_id) == ("inline", "logo@example.com")
    forced = attachment(content=b"x", content_id="c1", content_disposition="Attachment")
    assert forced.content_disposition == "attachment"
    assert attachment(content=b"x", content_disposition="inline").content_disposition == "inline"
    with pytest.raises(ValidationError, match="'inline' or 'attachment'"):
        attachment(content=b"x", content_disposition="form-data")


@pytest.mark.parametrize("content_id", ["a b@example.com", "a\r\nb", "<a<b>", "ünï@example.com"])
def test_attachment_refuses_bad_content_ids(content_id: str) -> None:
    with pytest.raises(ValidationError):
        attachment(content=b"x", content_id=content_id)


# -- make_message_id ----------------------------------------------------------------------------------


def test_make_message_id() -> None:
    first = make_message_id("Agents.Example.com")
    assert re.fullmatch(r"<[A-Za-z0-9._-]+@agents\.example\.com>", first)
    assert first != make_message_id("agents.example.com")
    assert make_message_id("bücher.de").endswith("@xn--bcher-kva.de>")


@pytest.mark.parametrize("domain", ["", "a b", "a/b", "x%y", "a?b", "a#b", "<x>"])
def test_make_message_id_refuses_bad_domains(domain: str) -> None:
    with pytest.raises(ValidationError):
        make_message_id(domain)


# -- compose_message: structure -----------------------------------------------------------------------


def test_text_only() -> None:
    raw = compose(cc=["Carol <carol@example.net>"], headers={"X-Ticket": "42"})
    assert_wire_safe(raw)
    message = load(raw)
    assert tree(message) == "text/plain"
    assert message["From"] == "Agent <agent@agents.example.com>"
    assert message["To"] == "bob@example.org"
    assert message["Cc"] == "Carol <carol@example.net>"
    assert message["Subject"] == "Hello"
    assert message["Date"] == "Mon, 01 Jan 2024 10:00:00 +0000"
    assert message["Message-ID"] == "<id1@agents.example.com>"
    assert message["MIME-Version"] == "1.0"
    assert message["X-Ticket"] == "42"
    assert message["In-Reply-To"] is None and message["References"] is None
    assert message.get_content_charset() == "utf-8"
    assert message.get_payload(decode=True) == b"Hi Bob\r\n"


def test_bcc_is_never_written() -> None:
    raw = compose(to=["a@example.com"])
    assert b"bcc" not in raw.lower()


def test_html_only() -> None:
    message = load(compose(text=None, html="<p>Hi</p>"))
    assert tree(message) == "text/html"


def test_text_and_html_alternative() -> None:
    message = load(compose(text="Hi", html="<p>Hi</p>"))
    assert tree(message) == ("multipart/alternative", ["text/plain", "text/html"])


def test_empty_body_is_an_empty_text_part() -> None:
    message = load(compose(text=None, html=None))
    assert tree(message) == "text/plain"
    assert message.get_payload(decode=True) == b"\r\n"
    assert load(compose(text="")).get_content_type() == "text/plain"


def test_inline_cid_image_structure() -> None:
    logo = attachment(filename="logo.png", content=PNG, content_id="logo@example.com")
    report = attachment(filename="report.pdf", content=PDF)
    message = load(
        compose(text="See logo", html='<p><img src="cid:logo@example.com"></p>', attachments=[logo, report])
    )
    assert tree(message) == (
        "multipart/mixed",
        [
            ("multipart/alternative", ["text/plain", ("multipart/related", ["text/html", "image/png"])]),
            "application/pdf",
        ],
    )
    image = message.get_payload(0).get_payload(1).get_payload(1)  # type: ignore[union-attr]
    assert image["Content-ID"] == "<logo@example.com>"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "logo.png"
    assert image.get_payload(decode=True) == PNG
    pdf = message.get_payload(1)  # type: ignore[union-attr]
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_payload(decode=True) == PDF


def test_inline_image_with_html_only() -> None:
    logo = attachment(filename="logo.png", content=PNG, content_id="logo")
    message = load(compose(text=None, html='<img src="cid:logo">', attachments=[logo]))
    assert tree(message) == ("multipart/related", ["text/html", "image/png"])


def test_inline_part_without_html_goes_to_mixed() -> None:
    logo = attachment(filename="logo.png", content=PNG, content_id="logo")
    message = load(compose(text="no html", attachments=[logo]))
    assert tree(message) == ("multipart/mixed", ["text/plain", "image/png"])
    assert message.get_payload(1)["Content-ID"] == "<logo>"  # type: ignore[index]


def test_attachments_only_mixed() -> None:
    files = [attachment(filename="a.txt", content=b"A"), attachment(filename="b.bin", content=b"\x00\xff")]
    message = load(compose(attachments=files))
    assert tree(message) == ("multipart/mixed", ["text/plain", "text/plain", "application/octet-stream"])


def test_message_rfc822_attachment_is_attached_as_a_message() -> None:
    enclosed = (
        b"From: x@example.com\r\nSubject: Enclosed\r\nMessage-ID: <enc@example.com>\r\n\r\nEnclosed body\r\n"
    )
    raw = compose(attachments=[attachment(filename="enclosed.eml", content=enclosed)])
    assert_wire_safe(raw)
    message = load(raw)
    assert tree(message) == ("multipart/mixed", ["text/plain", ("message/rfc822", ["text/plain"])])
    part = message.get_payload(1)  # type: ignore[union-attr]
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert part.get_filename() == "enclosed.eml"
    assert part.get_payload(0)["Subject"] == "Enclosed"  # type: ignore[index]
    assert b"Subject: Enclosed\r\n" in raw  # written as is, not base64


def test_message_rfc822_with_8bit_and_bare_lf() -> None:
    enclosed = "Subject: Grüße\n\nBody ü\n".encode()
    raw = compose(attachments=[attachment(content_type="message/rfc822", content=enclosed)])
    assert b"Content-Transfer-Encoding: 8bit" in raw
    assert "Subject: Grüße\r\n\r\nBody ü\r\n".encode() in raw
    [parsed] = parse_message(raw).attachments
    assert parsed.content == "Subject: Grüße\r\n\r\nBody ü\r\n".encode()


def test_unicode_headers_are_rfc2047_encoded() -> None:
    raw = compose(
        from_="Jörg Müller <agent@agents.example.com>",
        to=["李雷 <li@example.cn>", '"Doe, Jane" <jane@example.com>'],
        subject="Grüße — 你好 👋",
    )
    assert_wire_safe(raw)
    assert b"=?utf-8?" in raw
    parsed = parse_message(raw)
    assert parsed.from_ == "Jörg Müller <agent@agents.example.com>"
    assert parsed.to == ["李雷 <li@example.cn>", '"Doe, Jane" <jane@example.com>']
    assert parsed.subject == "Grüße — 你好 👋"


def test_unicode_addresses_use_smtputf8() -> None:
    raw = compose(to=["Jörg <jörg@bücher.de>"], subject="Grüße")
    assert "<jörg@bücher.de>\r\n".encode() in raw  # RFC 6532: raw UTF-8 in the header
    parsed = parse_message(raw)
    assert parsed.to == ["Jörg <jörg@bücher.de>"]
    assert parsed.subject == "Grüße"
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_long_non_ascii_names_keep_the_list_intact() -> None:
    # Python 3.11's own folder can move the comma between these two into an encoded-word.
    first = ("\u201d\u2014\ufeff0t\u200b\u20ac t\u65e5 9 \u200b\u4e16) ] " * 2).strip()
    to = [
        str(Address(first, "a@example.com")),
        "b@example.org",
        str(Address("株式会社" * 20, "c@example.jp")),
    ]
    raw = compose(to=to)
    assert_wire_safe(raw)
    assert [a.addr_spec for a in load_default(raw)["To"].addresses] == [
        "a@example.com",
        "b@example.org",
        "c@example.jp",
    ]
    assert parse_message(raw).to == to


@pytest.mark.parametrize(
    "subject",
    [
        "Literal =?utf-8?q?not_encoded?= text",
        "Spaces  and\ttabs   kept — ünïcode  here ",
        "Grüße " + "wort " * 40,
        "x" * 1500,
        "  padded  ",
        "a\x01b",
    ],
)
def test_subjects_round_trip_exactly(subject: str) -> None:
    raw = compose(subject=subject)
    assert_wire_safe(raw)
    assert parse_message(raw).subject == subject.strip()


def test_long_ascii_subject_is_folded_at_spaces() -> None:
    subject = " ".join(f"word{i}" for i in range(60))
    raw = compose(subject=subject)
    lines = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]
    assert parse_message(raw).subject == subject


def test_long_lines_and_unicode_bodies_are_wire_safe() -> None:
    text = "x" * 5000 + "\n" + "é" * 3000 + "\n" + "你好" * 2000 + "\nend"
    html = "<p>" + "y" * 10000 + "</p>"
    raw = compose(subject="s" * 2000, text=text, html=html, headers={"X-Long": "z" * 3000})
    assert_wire_safe(raw)
    parsed = parse_message(raw)
    assert parsed.text == text + "\n"
    assert parsed.html == html + "\n"
    assert parsed.subject == "s" * 2000
    assert parsed.headers["X-Long"] == "z" * 3000


def test_line_endings_are_normalised() -> None:
    parsed = parse_message(compose(text="a\r\nb\rc\nd"))
    assert parsed.text == "a\nb\nc\nd\n"


def test_no_subject_header_when_none() -> None:
    assert load(compose(subject=None))["Subject"] is None
    assert parse_message(compose(subject="")).subject == ""


def test_naive_date_is_utc_and_offsets_are_kept() -> None:
    assert load(compose(date=datetime(2024, 1, 1, 10, 0)))["Date"] == "Mon, 01 Jan 2024 10:00:00 +0000"
    tz = timezone(timedelta(hours=2))
    assert (
        load(compose(date=datetime(2024, 1, 1, 12, 0, tzinfo=tz)))["Date"]
        == "Mon, 01 Jan 2024 12:00:00 +0200"
    )


def test_odd_strings_do_not_raise() -> None:
    raw = compose(subject="lone \ud800 surrogate", text="text \udcff", html="<p>\ud83d</p>")
    assert_wire_safe(raw)


def test_many_references_are_folded() -> None:
    references = [f"<ref{i}@example.com>" for i in range(200)]
    raw = compose(in_reply_to=references[-1], references=references)
    assert_wire_safe(raw)
    parsed = parse_message(raw)
    assert parsed.references == references
    assert parsed.in_reply_to == references[-1]


# -- compose_message: round trip ----------------------------------------------------------------------


def test_round_trip_through_parse_message() -> None:
    enclosed = b"From: orig@example.com\r\nSubject: Original\r\n\r\nOriginal body\r\n"
    attachments = [
        attachment(filename="logo.png", content=PNG, content_id="logo@agents.example.com"),
        attachment(filename="résumé.pdf", content=base64.b64encode(PDF).decode()),
        attachment(filename="notes.txt", content=b"plain notes\n"),
        attachment(filename="data.bin", content=bytes(range(256))),
        attachment(filename="original.eml", content=enclosed),
    ]
    raw = compose(
        from_="Agent Smith <agent@agents.example.com>",
        to=["Bob <bob@example.org>", '"Doe, Jane" <jane@example.com>'],
        cc=["Zoë <zoe@example.net>"],
        reply_to=["Replies <replies@agents.example.com>"],
        subject="Re: Quarterly numbers ✓",
        text="Numbers attached.\n\nAgent",
        html='<p>Numbers attached.</p><img src="cid:logo@agents.example.com">',
        attachments=attachments,
        headers={"X-Ticket": "42"},
        message_id="<rt1@agents.example.com>",
        in_reply_to="<q@example.org>",
        references=["<root@example.org>", "<q@example.org>"],
    )
    assert_wire_safe(raw)
    parsed = parse_message(raw)
    assert parsed.message_id == "<rt1@agents.example.com>"
    assert parsed.in_reply_to == "<q@example.org>"
    assert parsed.references == ["<root@example.org>", "<q@example.org>"]
    assert parsed.subject == "Re: Quarterly numbers ✓"
    assert parsed.from_ == "Agent Smith <agent@agents.example.com>"
    assert parsed.to == ["Bob <bob@example.org>", '"Doe, Jane" <jane@example.com>']
    assert parsed.cc == ["Zoë <zoe@example.net>"]
    assert parsed.bcc == []
    assert parsed.reply_to == ["Replies <replies@agents.example.com>"]
    assert parsed.date == DATE
    assert parsed.headers["X-Ticket"] == "42"
    assert parsed.text == "Numbers attached.\n\nAgent\n"  # the composer ends the body with a line break
    assert parsed.html == '<p>Numbers attached.</p><img src="cid:logo@agents.example.com">\n'
    assert parsed.defects == []
    got = [
        (a.filename, a.content_type, a.content_disposition, a.content_id, a.content)
        for a in parsed.attachments
    ]
    assert got == [
        ("logo.png", "image/png", "inline", "logo@agents.example.com", PNG),
        ("résumé.pdf", "application/pdf", "attachment", None, PDF),
        ("notes.txt", "text/plain", "attachment", None, b"plain notes\n"),
        ("data.bin", "application/octet-stream", "attachment", None, bytes(range(256))),
        ("original.eml", "message/rfc822", "attachment", None, enclosed),
    ]


@pytest.mark.parametrize(
    "name",
    ["Jörg Müller", "Doe, Jane", 'Say "hi"', "李雷", "Ωμέγα", "Ünïcödé, with comma", "a\\b", "😀 Emoji"],
)
def test_unicode_names_round_trip(name: str) -> None:
    formatted = str(Address(name, "person@example.com"))
    parsed = parse_message(compose(from_=formatted, to=[formatted], cc=[formatted], reply_to=[formatted]))
    assert parsed.from_ == formatted
    assert parsed.to == parsed.cc == parsed.reply_to == [formatted]


# -- reply and forward subjects -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (None, "Re: "),
        ("", "Re: "),
        ("Hello", "Re: Hello"),
        ("Re: Hello", "Re: Hello"),
        ("RE: Hello", "Re: Hello"),
        ("re:Hello", "Re: Hello"),
        ("Re: Re: RE: Hello", "Re: Hello"),
        ("Re[2]: Hello", "Re: Hello"),
        ("Re(3): Hello", "Re: Hello"),
        ("AW: Hallo", "Re: Hallo"),
        ("Aw: AW: Hallo", "Re: Hallo"),
        ("SV: Hej", "Re: Hej"),
        ("Sv: Hej", "Re: Hej"),
        ("VS: Hei", "Re: Hei"),
        ("Antw: Hallo", "Re: Hallo"),
        ("Odp: Cześć", "Re: Cześć"),
        ("R: Ciao", "Re: Ciao"),
        ("RIF: Ciao", "Re: Ciao"),
        ("Réf : Bonjour", "Re: Bonjour"),
        ("RÉF: Bonjour", "Re: Bonjour"),
        ("回复: 你好", "Re: 你好"),
        ("答复：你好", "Re: 你好"),
        ("Re: AW: SV: Mixed", "Re: Mixed"),
        ("Fwd: News", "Re: Fwd: News"),
        ("Re: Fwd: News", "Re: Fwd: News"),
        ("Regarding the plan", "Re: Regarding the plan"),
        ("Review: done", "Re: Review: done"),
        ("  Re:   spaced  ", "Re: spaced"),
    ],
)
def test_reply_subject(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (None, "Fwd: "),
        ("", "Fwd: "),
        ("News", "Fwd: News"),
        ("Re: News", "Fwd: Re: News"),
        ("Fwd: News", "Fwd: News"),
        ("FWD: News", "FWD: News"),
        ("Fw: News", "Fw: News"),
        ("WG: Neuigkeiten", "WG: Neuigkeiten"),
        ("TR: Nouvelles", "TR: Nouvelles"),
        ("RV: Noticias", "RV: Noticias"),
        ("Doorst: Nieuws", "Doorst: Nieuws"),
        ("Forward planning", "Fwd: Forward planning"),
    ],
)
def test_forward_subject(subject: str | None, expected: str) -> None:
    assert forward_subject(subject) == expected


# -- reply_recipients ---------------------------------------------------------------------------------

INBOX = "support@agents.example.com"


def recipients(**overrides: Any) -> tuple[list[str], list[str]]:
    arguments: dict[str, Any] = {
        "inbox_address": INBOX,
        "original_from": "Alice <alice@example.com>",
        "original_reply_to": [],
        "original_to": [f"Support <{INBOX}>", "bob@example.com"],
        "original_cc": ["carol@example.com"],
        "reply_all": False,
    }
    arguments.update(overrides)
    return reply_recipients(**arguments)


def test_reply_goes_to_the_sender() -> None:
    assert recipients() == (["Alice <alice@example.com>"], [])


def test_reply_prefers_reply_to() -> None:
    assert recipients(original_reply_to=["list@example.com", "x@example.com"]) == (
        ["list@example.com", "x@example.com"],
        [],
    )


def test_reply_all() -> None:
    assert recipients(reply_all=True) == (
        ["Alice <alice@example.com>", "bob@example.com"],
        ["carol@example.com"],
    )


def test_reply_all_never_includes_the_inbox() -> None:
    to, cc = recipients(
        reply_all=True,
        original_to=["SUPPORT@agents.example.com", "bob@example.com"],
        original_cc=[f"Us <{INBOX}>", "carol@example.com"],
        original_reply_to=[INBOX, "alice@example.com"],
    )
    assert to == ["alice@example.com", "bob@example.com"]
    assert cc == ["carol@example.com"]
    assert all(INBOX not in a.lower() for a in to + cc)


def test_reply_all_dedupes_across_to_and_cc() -> None:
    to, cc = recipients(
        reply_all=True,
        original_to=["Bob <BOB@example.com>", "bob@example.com", "Alice Again <ALICE@example.com>"],
        original_cc=["bob@Example.com", "carol@example.com", "Carol <carol@example.com>"],
    )
    assert to == ["Alice <alice@example.com>", "Bob <BOB@example.com>"]
    assert cc == ["carol@example.com"]


def test_reply_to_a_message_the_inbox_sent() -> None:
    sent = {"original_from": f"Support <{INBOX}>", "original_to": ["alice@example.com", "bob@example.com"]}
    assert recipients(**sent) == (["alice@example.com", "bob@example.com"], [])
    assert recipients(**sent, reply_all=True) == (
        ["alice@example.com", "bob@example.com"],
        ["carol@example.com"],
    )
    # The inbox's own Reply-To is not where a follow-up of its own message goes.
    assert recipients(**sent, original_reply_to=[INBOX]) == (["alice@example.com", "bob@example.com"], [])


def test_reply_when_reply_to_names_only_the_inbox() -> None:
    assert recipients(original_reply_to=[INBOX]) == (["Alice <alice@example.com>"], [])


def test_reply_without_from() -> None:
    assert recipients(original_from=None) == (["bob@example.com"], [])
    assert recipients(original_from=None, original_to=[INBOX], original_cc=[]) == ([], [])


# -- quoting, attribution, reply and forward bodies ---------------------------------------------------


def test_attribution_line() -> None:
    line = attribution_line(date=datetime(2024, 1, 1, 10, 0, tzinfo=UTC), from_="Alice <a@x.com>")
    assert line == "On Mon, 1 Jan 2024 at 10:00, Alice <a@x.com> wrote:"
    assert attribution_line(date=None, from_="a@x.com") == "a@x.com wrote:"
    assert attribution_line(date=datetime(2023, 12, 31, 23, 5), from_=None).startswith(
        "On Sun, 31 Dec 2023 at 23:05"
    )


def test_quote_text() -> None:
    assert (
        quote_text("one\n\ntwo\n> already", attribution="A wrote:")
        == "A wrote:\n> one\n>\n> two\n> > already"
    )
    assert quote_text(None, attribution="A wrote:") == "A wrote:"
    assert quote_text("a\r\nb", attribution="A:") == "A:\n> a\n> b"


def test_quote_html_escapes() -> None:
    quoted = quote_html(None, "1 < 2 & <script>\nnext", attribution="<Alice> & co wrote:")
    assert quoted.startswith("<div>&lt;Alice&gt; &amp; co wrote:</div><blockquote")
    assert "1 &lt; 2 &amp; &lt;script&gt;<br>next</blockquote>" in quoted
    assert "<script>" not in quoted
    assert 'type="cite"' in quoted


def test_quote_html_uses_the_html_body() -> None:
    document = "<html><head><title>t</title></head><BODY class='x'><p>Original</p></body></html>"
    quoted = quote_html(document, "ignored", attribution="A wrote:")
    assert quoted.endswith("><p>Original</p></blockquote>")
    assert "<html>" not in quoted and "<title>" not in quoted
    assert quote_html("<p>fragment</p>", None, attribution="A").endswith("<p>fragment</p></blockquote>")


def test_reply_body_text_and_html() -> None:
    text, html = reply_body(
        text="Thanks!\n",
        html="<p>Thanks!</p>",
        original_text="Question?",
        original_html="<p>Question?</p>",
        attribution="A wrote:",
    )
    assert text == "Thanks!\n\nA wrote:\n> Question?"
    assert html is not None
    assert html.startswith("<p>Thanks!</p><div>A wrote:</div><blockquote")
    assert html.endswith("<p>Question?</p></blockquote>")


def test_reply_body_text_only_keeps_html_none() -> None:
    text, html = reply_body(
        text="Thanks", html=None, original_text="Q", original_html="<p>Q</p>", attribution="A wrote:"
    )
    assert (text, html) == ("Thanks\n\nA wrote:\n> Q", None)


def test_reply_body_inserts_into_a_whole_document() -> None:
    _, html = reply_body(
        text=None,
        html="<html><body><p>Hi</p></body></html>",
        original_text="Q",
        original_html=None,
        attribution="A wrote:",
    )
    assert html is not None and html.startswith("<html><body><p>Hi</p><div>A wrote:</div>")
    assert html.endswith("> Q</blockquote></body></html>".replace("> Q", "Q"))


def test_reply_body_edge_cases() -> None:
    assert reply_body(text=None, html=None, original_text="Q", original_html=None, attribution="A:") == (
        "A:\n> Q",
        None,
    )
    assert reply_body(
        text="Hi", html=None, original_text=None, original_html="<p>Q</p>", attribution="A:"
    ) == (
        "Hi",
        None,
    )


def test_forward_body() -> None:
    text, html = forward_body(
        text="FYI",
        html=None,
        original_from="Alice <a@example.com>",
        original_date=datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
        original_subject="Plans",
        original_to=["bob@example.com", "Carol <c@example.com>"],
        original_cc=["dave@example.com"],
        original_text="The plan.\n",
        original_html=None,
    )
    assert text == (
        "FYI\n\n---------- Forwarded message ---------\n"
        "From: Alice <a@example.com>\nDate: Mon, 1 Jan 2024 at 10:00\nSubject: Plans\n"
        "To: bob@example.com, Carol <c@example.com>\nCc: dave@example.com\n\nThe plan."
    )
    assert html is None


def test_forward_body_html() -> None:
    text, html = forward_body(
        text="FYI <b>",
        html=None,
        original_from="Alice <a@example.com>",
        original_date=None,
        original_subject=None,
        original_to=[],
        original_cc=[],
        original_text=None,
        original_html="<html><body><p>Plan</p></body></html>",
    )
    assert text == "FYI <b>\n\n---------- Forwarded message ---------\nFrom: Alice <a@example.com>"
    assert html == (
        'FYI &lt;b&gt;<br><br><div class="forwarded">---------- Forwarded message ---------<br>'
        "From: Alice &lt;a@example.com&gt;<br><br><p>Plan</p></div>"
    )


def test_forward_body_with_caller_html_and_text_original() -> None:
    _, html = forward_body(
        text=None,
        html="<p>See below</p>",
        original_from=None,
        original_date=None,
        original_subject="S",
        original_to=[],
        original_cc=[],
        original_text="line 1\nline <2>",
        original_html=None,
    )
    assert html is not None and html.startswith("<p>See below</p><br><br><div")
    assert html.endswith("Subject: S<br><br>line 1<br>line &lt;2&gt;</div>")


def test_reply_and_forward_bodies_compose() -> None:
    text, html = reply_body(
        text="Réponse", html="<p>Réponse</p>", original_text="Q", original_html=None, attribution="A:"
    )
    parsed = parse_message(compose(text=text, html=html))
    assert parsed.text == "Réponse\n\nA:\n> Q\n"
    assert parsed.html is not None and "<blockquote" in parsed.html
