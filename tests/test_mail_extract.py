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
from extraction_cases import labelled
from extraction_cases.labelled import no_space

from agentinbox import AsyncAgentInbox
from agentinbox.mail import attribution, extract
from agentinbox.mail.bounce_text import human_readable
from agentinbox.mail.extract import extract_message, extract_reply, html_to_text, make_preview
from agentinbox.mail.signature import is_mobile_footer, split_signature
from agentinbox.pipeline.inbound import prepare

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


# --- agentinbox's rules, one by one ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "On Tue, Mar 4, 2025 at 9:12 AM Priya Raman <priya@example.com> wrote:",  # en, Gmail
        "On 12 Feb 2025, at 18:03, Laura Chen <laura@example.net> wrote:",  # en, Apple Mail
        "Am Mo., 3. März 2025 um 10:15 Uhr schrieb Sabine Keller <s.keller@example.de>:",  # de
        "Am 03.03.25 um 17:02 schrieb Jonas Weber:",  # de, Thunderbird: the verb before the name
        "Le lun. 3 mars 2025 à 11:20, Claire Martin <claire@example.fr> a écrit :",  # fr
        "El mar, 4 mar 2025 a las 16:05, Lucía (<lucia@example.es>) escribió:",  # es
        "Il giorno mar 4 mar 2025 alle ore 12:30 Marco Rossi <marco@example.it> ha scritto:",  # it
        "Em ter., 4 de mar. de 2025 às 10:02, Ana Souza <ana@example.com.br> escreveu:",  # pt
        "Op ma 3 mrt 2025 om 13:45 schreef Pieter de Vries <pieter@example.nl>:",  # nl
        "Op 4 mrt. 2025 om 09:12 heeft Sanne <sanne@example.nl> het volgende geschreven:",  # nl, Apple Mail
        "Den tis 4 mars 2025 kl 08:55 skrev Erik Lindqvist <erik@example.se>:",  # sv
        "Den tir. 4. mar. 2025 kl. 11.30 skrev Mette Hansen <mette@example.dk>:",  # da
        "tir. 4. mar. 2025 kl. 14:10 skrev Ola Nordmann <ola@example.no>:",  # no, Gmail without a lead word
        "W dniu wt., 4.03.2025 o 09:30 Anna Kowalska <anna@example.pl> napisał(a):",  # pl
        "вт, 4 мар. 2025 г. в 10:05, Иван Петров <ivan@example.ru>:",  # ru, Gmail: no verb
        "4 марта 2025 г., в 11:42, Ольга <olga@example.ru> написал(а):",  # ru, Apple Mail
        "2025年3月4日(火) 10:15 山田太郎 <taro@example.jp>:",  # ja, Gmail
        "2025/03/04 9:30、佐藤花子 <hanako@example.jp>のメール:",  # ja, Apple Mail
        "张伟 <zhang.wei@example.cn> 于2025年3月4日周二 10:20写道：",  # zh, Gmail
        "在 2025年3月4日，11:05，李娜 <li.na@example.cn> 写道：",  # zh, Apple Mail
        "---- John Smith wrote ----",  # Android
    ],
)
def test_attribution_lines_in_many_languages(line: str) -> None:
    assert attribution.is_attribution(line)


@pytest.mark.parametrize(
    "line",
    [
        "On Monday we decided to postpone the launch.",
        "Remember the poem I wrote:",
        "Here is what the documentation says:",
        'Error in download.file(url, destfile, method, mode = "wb", ...) :',
        "Details for the workshop:",
        "From: the product team. To: all staff.",
    ],
)
def test_sentences_are_not_attributions(line: str) -> None:
    assert not attribution.is_attribution(line)


def test_an_attribution_wrapped_over_two_or_three_lines_is_one_boundary() -> None:
    two = [
        "Thanks.",
        "",
        "On Wed, Jan 15, 2025 at 4:47 PM Jonathan Whitfield-Barnes <",
        "jon@example.org> wrote:",
    ]
    three = ["Ok", "On Nov 30, 2011, at 12:47 PM, Somebody <", "416ffd3258@somebody.example.com>", "wrote:"]
    assert attribution.find_boundary(two) == attribution.Boundary(2, "attribution", 4)
    assert attribution.find_boundary(three) == attribution.Boundary(1, "attribution", 4)


@pytest.mark.parametrize(
    "block",
    [
        "From: Mark <mark@example.com>\nSent: Tuesday, March 4, 2025 9:14 AM\nTo: Helen\nSubject: Order",
        "*From:* Rachel <r@example.com>\n*Sent:* Tuesday\n*To:* David\n*Subject:* Draft",
        "Von: Thomas <t@example.de>\nGesendet: Dienstag, 4. März 2025 10:12\nAn: Maria\nBetreff: Unterlagen",
        "De : Sophie <s@example.fr>\nEnvoyé : mardi 4 mars 2025 14:05\nÀ : Luc\nObjet : Séminaire",
        "De: Carlos <c@example.es>\nEnviado: martes, 4 de marzo de 2025\nPara: Marta\nAsunto: Presupuesto",
        "Da: Luca <l@example.it>\nInviato: martedì 4 marzo 2025 11:05\nA: Elena\nOggetto: Preventivo",
        "De: Pedro <p@example.pt>\nEnviado: terça-feira, 4 de março de 2025\nPara: Rita\nAssunto: Relatório",
        "Van: Jeroen <j@example.nl>\nVerzonden: dinsdag 4 maart 2025 10:45\nAan: Lisa\nOnderwerp: Planning",
        "Från: Anders <a@example.se>\nSkickat: den 4 mars 2025 09:10\nTill: Eva\nÄmne: Mötesrum",
        "Fra: Søren <s@example.dk>\nSendt: 4. marts 2025 13:25\nTil: Lene\nEmne: Ferieplan",
        "Od: Tomasz <t@example.pl>\nWysłano: wtorek, 4 marca 2025 10:50\nDo: Kasia\nTemat: Rozliczenie",
        "От: Андрей <a@example.ru>\nОтправлено: 4 марта 2025 г. 12:10\nКому: Мария\nТема: Счет",
        "差出人: 鈴木一郎 <ichiro@example.jp>\n送信日時: 2025年3月4日 10:30\n宛先: 田中\n件名: 資料の件",
        "发件人: 王芳 <wang@example.cn>\n发送时间: 2025年3月4日 14:00\n收件人: 刘洋\n主题: 项目进度",
        "寄件者: 陳建宏 <chen@example.tw>\n寄件日期: 2025年3月4日\n收件者: 林怡君\n主旨: 會議時間",
    ],
)
def test_outlook_header_blocks_in_many_languages(block: str) -> None:
    lines = ["Reply above.", "", *block.split("\n"), "", "Earlier message."]
    boundary = attribution.find_boundary(lines)
    assert boundary is not None and (boundary.index, boundary.kind) == (2, "header")
    assert extract_message("\n".join(lines), None).text == "Reply above."


def test_a_lone_header_like_line_is_not_a_header_block() -> None:
    lines = ["Invitation:", "", "Date: Wednesday 3 October", "Time: 7:00", "Address: 130 Fox St"]
    assert attribution.find_boundary(lines) is None
    # talon cuts at the "Date:" line; agentinbox refuses that cut
    assert extract_message("\n".join(lines), None).text == "\n".join(lines)


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Oprindelig meddelelse-----",
        "-----Opprinnelig melding-----",
        "-----Originalmeddelande-----",
        "-----Wiadomość oryginalna-----",
        "-----Исходное сообщение-----",
        "-----元のメッセージ-----",
        "-----原始邮件-----",
    ],
)
def test_original_message_separators(separator: str) -> None:
    text = f"Done.\n\n{separator}\nSomething earlier.\n"
    assert attribution.is_original_message(separator)
    assert extract_message(text, None).text == "Done."


@pytest.mark.parametrize(
    ("marker", "from_key", "subject_key"),
    [
        ("---------- Forwarded message ---------", "From", "Subject"),
        ("Begin forwarded message:", "From", "Subject"),
        ("-------- Forwarded Message --------", "From", "Subject"),
        ("---------- Weitergeleitete Nachricht ---------", "Von", "Betreff"),
        ("Anfang der weitergeleiteten Nachricht:", "Von", "Betreff"),
        ("---------- Message transféré ---------", "De", "Objet"),
        ("Début du message réexpédié :", "De", "Objet"),
        ("---------- Mensaje reenviado ---------", "De", "Asunto"),
        ("---------- Messaggio inoltrato ---------", "Da", "Oggetto"),
        ("---------- Doorgestuurd bericht ---------", "Van", "Onderwerp"),
        ("---------- Пересылаемое сообщение ---------", "От", "Тема"),
    ],
)
def test_forwarded_messages_are_split_off_with_their_fields(
    marker: str, from_key: str, subject_key: str
) -> None:
    text = (
        f"See below.\n\n{marker}\n{from_key}: Billing <billing@example.com>\n{subject_key}: Invoice 991\n"
        "To: <accounts@example.com>\n\nInvoice 991 is overdue.\n"
    )
    extraction = extract_message(text, None)
    assert extraction.text == "See below."
    assert extraction.forwarded is not None
    assert extraction.forwarded.from_ == "Billing <billing@example.com>"
    assert extraction.forwarded.subject == "Invoice 991"
    assert extraction.forwarded.body == "Invoice 991 is overdue."
    assert extract_reply(text, None)[0] == text.strip()  # the whole new content, forward included


def test_a_forward_inside_quoted_history_is_history() -> None:
    text = (
        "Got it.\n\nOn Tue, Mar 4, 2025 at 10:05 AM Maya <maya@example.com> wrote:\n> FYI\n>\n"
        "> ---------- Forwarded message ---------\n> From: Vendor <sales@example.com>\n>\n> Renewal.\n"
    )
    extraction = extract_message(text, None)
    assert (extraction.text, extraction.forwarded) == ("Got it.", None)


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from my Verizon Wireless BlackBerry",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "Inviato da iPhone",
        "Enviado do meu iPhone",
        "Verzonden vanaf mijn iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPhone",
        "Wysłane z iPhone'a",
        "Отправлено с iPhone",
        "iPhoneから送信",
        "发自我的iPhone",
    ],
)
def test_mobile_footers_become_the_signature(footer: str) -> None:
    assert is_mobile_footer(footer)
    extraction = extract_message(f"On my way.\n\n{footer}\n", None)
    assert (extraction.text, extraction.signature) == ("On my way.", footer)
    assert extract_reply(f"On my way.\n\n{footer}\n", None)[0] == f"On my way.\n\n{footer}"


def test_signatures_are_split_not_deleted() -> None:
    assert split_signature("The build is green.\n\n-- \nNina\nRelease Engineering\n") == (
        "The build is green.",
        "-- \nNina\nRelease Engineering",
    )
    assert split_signature("Please resend it.\n\nBest regards,\nMartin Keller\nAnalyst\n") == (
        "Please resend it.",
        "Best regards,\nMartin Keller\nAnalyst",
    )
    assert split_signature("Bitte um Rückruf.\n\nMit freundlichen Grüßen\nHeinz Müller") == (
        "Bitte um Rückruf.",
        "Mit freundlichen Grüßen\nHeinz Müller",
    )
    assert split_signature("Proszę o umowę.\n\nPozdrawiam,\nJan") == ("Proszę o umowę.", "Pozdrawiam,\nJan")
    # a name alone, a sentence that starts like a footer, or a message that is all signature stay text
    assert split_signature("See you at the station.\n\nAnn") == ("See you at the station.\n\nAnn", None)
    desk = "Here it is.\n\nSent from my desk, which is easier than my phone."
    assert split_signature(desk) == (desk, None)
    assert split_signature("Thanks,\nOmar") == ("Thanks,\nOmar", None)
    assert split_signature("- USB-C cable x2\n- Laptop stand x1") == (
        "- USB-C cable x2\n- Laptop stand x1",
        None,
    )


def test_inline_replies_keep_the_questions_and_drop_the_history_after_the_last_answer() -> None:
    text = (
        "Answers inline.\n\nOn Tue, Mar 4, 2025 at 9:00 AM Lena <lena@example.com> wrote:\n\n"
        "> 1. Can you attend on Monday?\n\nYes.\n\n> 2. Do you need a permit?\n\nNo.\n\n> Thanks,\n> Lena\n"
        ">\n> On Mon, Mar 3, 2025 Bob <bob@example.com> wrote:\n>> older\n"
    )
    assert extract_message(text, None).text == text[: text.index("No.") + 3]


def test_bounces_keep_their_report_and_drop_the_returned_copy() -> None:
    text = (
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        "<nobody@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\nReturn-Path: <a@example.com>\nSubject: Hi\n\nHello.\n"
    )
    assert human_readable(text.split("\n")) is not None
    assert extract_message(text, None).text == text[: text.index("\n\n--- Below")]
    assert human_readable(["The original message was lost, could you resend it?"]) is None


@pytest.mark.parametrize(
    "quote",
    [
        '<div class="gmail_quote"><div class="gmail_attr">On Tue, Bob wrote:</div><blockquote class="gmail_quote">'
        "Old</blockquote></div>",
        '<blockquote type="cite"><div>On 4 Mar 2025, at 12:01, Bob wrote:</div><div>Old</div></blockquote>',
        '<div class="moz-cite-prefix">On 04/03/2025 11:20, Bob wrote:<br></div><blockquote type="cite">Old'
        "</blockquote>",
        '<div id="divRplyFwdMsg"><b>From:</b> Bob<br><b>Sent:</b> Tuesday<br><b>Subject:</b> X</div><div>Old</div>',
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bob</div><div>Old</div>',
        '<span id="OLK_SRC_BODY_SECTION"><div><b>From: </b>Bob<br><b>Date: </b>Tuesday</div><div>Old</div></span>',
        '<div class="yahoo_quoted"><div>On Tuesday, Bob wrote:</div><div>Old</div></div>',
        '<div class="protonmail_quote">On Tuesday, Bob wrote:<br><blockquote class="protonmail_quote">Old'
        "</blockquote></div>",
        '<div style="border-top:solid #E1E1E1 1.0pt"><p><b>Von:</b> Bob<br><b>Gesendet:</b> Dienstag<br>'
        "<b>An:</b> Ann<br><b>Betreff:</b> X</p></div><p>Old</p>",
        "<p>Le mar. 4 mars 2025 à 09:00, Bob &lt;bob@example.fr&gt; a écrit :</p><blockquote>Old</blockquote>",
    ],
)
def test_html_quote_containers_are_cut(quote: str) -> None:
    extraction = extract_message(None, f"<div>New text.</div>{quote}")
    assert extraction.html is not None and "Old" not in extraction.html and "New text." in extraction.html
    assert extraction.text == "New text."


def test_html_inline_replies_and_indenting_blockquotes_are_kept() -> None:
    inline = (
        '<blockquote type="cite">Can you do 10am?</blockquote>Yes.<br>'
        '<blockquote type="cite">Bring samples?</blockquote>Will do.<br><blockquote type="cite">Thanks</blockquote>'
    )
    assert no_space(extract_message(None, inline).text) == no_space(
        "Can you do 10am? Yes. Bring samples? Will do."
    )
    indent = "<p>Our sale starts Monday.</p><blockquote>Free shipping.</blockquote><p>The Shop</p>"
    assert "Free shipping." in (extract_reply(None, indent)[1] or "")


def test_extracted_html_is_sanitized() -> None:
    html = (
        '<p onclick="steal()">Hi <a href="javascript:alert(1)">there</a>'
        '<img src="cid:logo"><script>alert(1)</script>'
        '<span style="position: fixed; color: red">!</span></p><iframe src="https://example.com"></iframe>'
    )
    _, safe = extract_reply(None, html)
    assert safe is not None
    for unsafe in ("onclick", "javascript:", "<script", "<iframe", "position"):
        assert unsafe not in safe
    assert 'src="cid:logo"' in safe and "color:red" in safe.replace(" ", "")


# --- pathological input: fast, and the whole body kept -----------------------------------------------------
_PATHOLOGICAL_TEXT = {
    "a 99 KB line": "x" * 99_000,
    "a 95 KB line ending in a colon": "word " * 19_000 + ":",
    "8,000 lines ending in a colon": "".join(f"Step {i}:\n" for i in range(8_000)),
    "4,000 header-like pairs": "".join(f"From: a{i}\nTo: b\n" for i in range(4_000)),
    "3,000 attribution-like lines": "".join(f"On {i}, {i}, {i} wrote\n" for i in range(3_000)),
    "4,000 alternating quote lines": "".join(f"> q{i}\na{i}\n" for i in range(4_000)),
    "5,000 sign-offs": "Thanks,\n" * 5_000,
    "deeply indented lines": "".join(" " * 200 + f"x{i},\n" for i in range(400)),
}
_PATHOLOGICAL_HTML = {
    "3,000 nested blockquotes": '<p>New</p><blockquote type="cite">' * 3_000 + "x" + "</blockquote>" * 3_000,
    "5,000 nested divs": "<div>" * 5_000 + "x",
    "2,000 inline blockquotes": "<p>hi</p>" + "<blockquote>q</blockquote><p>a</p>" * 2_000,
    "2,000 Gmail quotes": "<p>hi</p>" + '<div class="gmail_quote">q</div><p>a</p>' * 2_000,
    "3,000 header-like paragraphs": "<p>hi</p>" + "<p><b>From:</b> x</p>" * 3_000,
}
_FAST = 0.25  # seconds: the budget is 40 ms; this leaves room for a loaded test machine


@pytest.mark.parametrize("name", list(_PATHOLOGICAL_TEXT))
def test_pathological_text_finishes_fast_and_keeps_the_whole_body(name: str) -> None:
    text = _PATHOLOGICAL_TEXT[name]
    extract_message("warm up", None)
    start = time.perf_counter()
    extraction = extract_message(text, None)
    assert time.perf_counter() - start < _FAST
    assert extraction.full_text == text.strip()


def test_a_10k_line_quote_finishes_fast_and_goes() -> None:
    attributed = (
        "Reply\n\nOn Mon, Mar 2, 2015 at 10:07 AM, Bob <bob@example.com> wrote:\n" + "> quoted\n" * 10_000
    )
    bare = "Reply\n" + "".join(f"> quoted line {i}\n" for i in range(4_000))
    for text in (attributed, bare):
        start = time.perf_counter()
        extraction = extract_message(text, None)
        assert time.perf_counter() - start < _FAST
        assert extraction.text in ("Reply", text.strip())  # cut, or kept whole when over the size limit
    assert extract_message(attributed[:90_000], None).text == "Reply"


@pytest.mark.parametrize("name", list(_PATHOLOGICAL_HTML))
def test_pathological_html_finishes_fast_and_keeps_content(name: str) -> None:
    html = _PATHOLOGICAL_HTML[name]
    start = time.perf_counter()
    extraction = extract_message(None, html)
    assert time.perf_counter() - start < _FAST
    assert extraction.html is not None and ("x" in extraction.html or "hi" in extraction.html)


# --- the labelled set and the corpora ------------------------------------------------------------------------
_CATEGORY_TARGET = 0.90


def test_labelled_cases_reach_the_target_in_every_category() -> None:
    cases = labelled.load_cases()
    assert len(cases) >= 150
    results: dict[str, list[bool]] = {}
    misses = []
    for case in cases:
        ok, problem = labelled.agentinbox_result(case)
        results.setdefault(case.category, []).append(ok)
        if not ok:
            misses.append(f"{case.category}/{case.id}: {problem}")
    assert {
        "attribution",
        "outlook_header",
        "html",
        "forwarded",
        "inline",
        "signature",
        "dsn",
        "plain",
    } <= set(results)
    low = {
        category: f"{sum(r)}/{len(r)}"
        for category, r in results.items()
        if sum(r) < _CATEGORY_TARGET * len(r)
    }
    assert low == {}, misses


def _corpus_cases() -> list[tuple[str, str | None, str | None, str, str]]:
    """(name, text, html, expected, scoring) of every corpus case: scoring ``whole`` compares the whole new
    content (talon's corpora), ``reply`` the reply without its signature, ``html`` the HTML made text."""
    if not CORPORA.is_dir():
        pytest.skip(f"the shared corpora are not at {CORPORA}")
    talon = json.loads((CORPORA / "talon" / "expectations.json").read_text())
    cases: list[tuple[str, str | None, str | None, str, str]] = []
    for case in talon["plain_text_reply_extraction"]["cases"]:
        if case["test"] != "test_too_many_lines":  # holds only with talon's MAX_LINES_COUNT patched to 1
            cases.append((case["test"], case["input"], None, case["expected_reply"], "whole"))
    for case in talon["standard_replies"]["cases"]:
        raw = (CORPORA / "talon" / case["file"]).read_bytes()
        text = next(body for kind, body in _parts(raw) if kind == "text/plain")
        cases.append((case["file"], text, None, case["expected_reply_text"], "whole"))
    for case in talon["html_replies"]["cases"]:
        html = (CORPORA / "talon" / case["file"]).read_text(encoding="utf-8", errors="replace")
        cases.append((case["file"], None, html, case["expected_reply_text"], "html"))
    folder = CORPORA / "email_reply_parser"
    for case in json.loads((folder / "expected_reply_text.json").read_text()):
        text = (folder / case["file"]).read_bytes().decode("utf-8", "replace")
        cases.append((case["file"], text, None, case["expected_reply_text"], "reply"))
    folder = CORPORA / "mail_parser_reply"
    for record in json.loads((folder / "expectations.json").read_text()):
        text = (folder / record["file"]).read_bytes().decode("utf-8", "replace")
        for assertion in record["assertions"]:
            if (
                assertion.get("reply") == 0
                and assertion.get("field") == "body"
                and assertion["check"] == "equals"
            ):
                cases.append((record["test"], text, None, assertion["value"], "reply"))
    return cases


def test_no_corpus_case_that_talon_gets_right_regresses() -> None:
    quotations = extract._quotations()
    right_by_talon = regressed = 0
    failures = []
    for name, text, html, expected, scoring in _corpus_cases():
        if scoring == "html":
            assert html is not None
            talon_ok = no_space(html_to_text(quotations.extract_from_html(html))) == no_space(expected)
            ours = no_space(html_to_text(extract_reply(None, html)[1] or "")) == no_space(expected)
        else:
            assert text is not None
            talon_ok = labelled.normalise(quotations.extract_from_plain(text)) == labelled.normalise(expected)
            got = extract_reply(text, None)[0] if scoring == "whole" else extract_message(text, None).text
            ours = labelled.normalise(got) == labelled.normalise(expected)
        right_by_talon += talon_ok
        if talon_ok and not ours:
            regressed += 1
            failures.append(name)
    assert right_by_talon > 60  # the comparison is not vacuous
    assert failures == []


def test_a_reply_about_a_failed_delivery_is_not_a_bounce() -> None:
    text = (
        "Sorry, the courier was unable to deliver the parcel today, it could not be delivered before 6pm.\n\n"
        "On Tue, Mar 4, 2025 at 9:00 AM Kim <kim@example.com> wrote:\n> Where is my parcel?\n"
    )
    assert human_readable(text.split("\n")) is None
    assert extract_message(text, None).text == text[: text.index("\n\nOn Tue")]


def test_mailing_list_footers_are_part_of_the_signature() -> None:
    text = (
        "Having the function would be great.\n\n-Abhishek\n\n\n_______________________________________________\n"
        "riak-users mailing list\nriak-users@lists.example.com\nhttp://lists.example.com/mailman/listinfo/riak-users\n"
    )
    body, signature = split_signature(text)
    assert body == "Having the function would be great."
    assert (
        signature is not None
        and signature.startswith("-Abhishek")
        and signature.endswith("listinfo/riak-users")
    )


def test_the_first_message_after_start_up_is_cut_too() -> None:
    """The one-time imports (talon, lxml) are not charged to the first message's time budget."""
    code = (
        "import sys; from agentinbox.mail.extract import extract_message; "
        "e = extract_message(sys.argv[1], sys.argv[2]); print(repr((e.text, e.html)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, GMAIL_TEXT, GMAIL_HTML], check=True, capture_output=True, text=True
    )
    text, html = eval(result.stdout)
    assert text == "Sounds good, see you at 3.\n\nAnn"
    assert "Tuesday" not in html


# --- the signature is stored with a received message -------------------------------------------------------
SIGNED_REPLY = (
    b"From: Carol <carol@example.com>\r\n"
    b"To: desk@agents.test\r\n"
    b"Subject: Re: Order 17\r\n"
    b"Message-ID: <signed-1@example.com>\r\n"
    b"Date: Mon, 04 Jan 2027 10:00:00 +0000\r\n"
    b"\r\n"
    b"It arrived, thanks.\r\n\r\nSent from my iPhone\r\n\r\n"
    b"On Sun, Jan 3, 2027 at 9:00 AM Desk <desk@agents.test> wrote:\r\n> Your order 17 has shipped.\r\n"
)


def test_prepare_keeps_the_signature_beside_the_extracted_text() -> None:
    prepared = prepare(SIGNED_REPLY)
    assert prepared.extracted_text == "It arrived, thanks.\n\nSent from my iPhone"
    assert prepared.signature == "Sent from my iPhone"


async def test_a_received_message_has_its_signature(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    [stored] = await client.deliver(SIGNED_REPLY)
    assert stored.signature == "Sent from my iPhone"
    message = await client.inboxes.messages.get(inbox_id=desk.inbox_id, message_id=stored.message_id)
    assert message.signature == "Sent from my iPhone"
    assert message.extracted_text == "It arrived, thanks.\n\nSent from my iPhone"


def test_extracted_html_says_what_the_extracted_text_says() -> None:
    cases = [case for case in labelled.load_cases() if case.is_html]
    assert len(cases) >= 20
    for case in cases:
        extraction = extract_message(None, case.data["html"])
        assert no_space(html_to_text(extraction.html or "")) == no_space(extraction.text), case.id


def test_talon_cuts_at_a_lone_header_line_only_above_a_quote() -> None:
    above_quote = (
        "Fixed in r67890.\n\nFrom: Daniel <daniel at example.org>\n> When I evaluate this list\n> it fails.\n"
    )
    assert extract_message(above_quote, None).text == "Fixed in r67890."
    in_a_log = "The check says:\n\n     From: DESCRIPTION\n     Status: Error\n\nAny idea?\n"
    assert extract_message(in_a_log, None).text == in_a_log.strip()
