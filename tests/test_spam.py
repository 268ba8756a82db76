"""Spam scanning: the built-in rules, the spamd and rspamd adapters against the real daemons, and the engine
labelling spam (hidden from lists, ``message.received.spam``) whichever scanner the settings name."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import pytest
from helpers import corpus, expect
from spam_daemons import free_port, rspamd_address, spamd_address

from agentinbox import AsyncAgentInbox, ValidationError
from agentinbox._clock import ManualClock
from agentinbox.mail.parse import parse_message
from agentinbox.security.inspection import Inspection
from agentinbox.security.rspamd import SPAM_ACTIONS, RspamdError, RspamdResult, rspamd_check
from agentinbox.security.rspamd import parse_answer as parse_rspamd
from agentinbox.security.spam import BuiltinSpamCheck, parse_spam_scanner
from agentinbox.security.spam_rules import GTUBE, RULES, match_rules
from agentinbox.security.spamd import DEFAULT_MAX_SIZE, SpamdError, SpamdResult, spamd_symbols
from agentinbox.security.spamd import parse_answer as parse_spamd

__all__ = ["rspamd_address", "spamd_address"]  # the daemons are session fixtures of this module

AGENT = "desk@agents.test"

HAM = (
    b"From: Carol Diaz <carol@example.com>\r\n"
    b"To: Desk <desk@agents.test>\r\n"
    b"Subject: Notes from Tuesday's planning meeting\r\n"
    b"Date: %s\r\n"
    b"Message-ID: <plan-7@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hi,\r\n\r\nAttached are the notes; the budget review moves to Thursday at 10.\r\n"
    b"The draft is at https://docs.example.com/plans/q1 if you want to comment.\r\n\r\nCarol\r\n"
) % formatdate().encode()  # dated now: rspamd scores dates far in the past or future

PHISH_HTML = """<html><body>
<p>Dear Customer,</p>
<p>We detected unusual sign-in activity and your account has been suspended.
To restore access you must verify your account within 24 hours.</p>
<p><a href="http://198.51.100.23/secure/login.php">https://www.paypal.com/signin</a></p>
<div style="display:none">invoice meeting lunch weather friendly words</div>
<p>Failure to verify will result in permanent closure.</p></body></html>"""


def message(
    *,
    subject: str = "Hello",
    sender: str = "Carol <carol@example.com>",
    text: str | None = "Hello there.\n",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, bytes]] = (),
    dated: bool = True,
) -> bytes:
    """A message built with the email package, as real mailers build them."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = AGENT
    msg["Subject"] = subject
    if dated:
        msg["Date"] = formatdate()
        msg["Message-ID"] = (
            f"<{hashlib.sha256(repr((subject, text, html)).encode()).hexdigest()[:16]}@example.com>"
        )
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="octet-stream", filename=filename)
    return bytes(msg)


def inspect(raw: bytes, authentication: dict[str, Any] | None = None) -> Inspection:
    return Inspection(raw, parse_message(raw), authentication=authentication)


def rules(raw: bytes, authentication: dict[str, Any] | None = None) -> set[str]:
    return {match.name for match in match_rules(inspect(raw, authentication))}


async def judge(raw: bytes, authentication: dict[str, Any] | None = None) -> dict[str, Any]:
    finding = await BuiltinSpamCheck(threshold=5.0)(inspect(raw, authentication))
    verdict = finding.verdicts["spam"]
    assert ("spam" in finding.labels) == verdict["spam"]
    return verdict


# --- the built-in rules ------------------------------------------------------------------------------------


async def test_gtube_is_spam_with_score_1000() -> None:
    verdict = await judge(message(text=f"Test\n{GTUBE.decode()}\n"))
    assert verdict["spam"] and verdict["score"] >= 1000 and "GTUBE" in verdict["rules"]
    assert verdict["scanner"] == "builtin" and verdict["threshold"] == 5.0 and verdict["error"] is None
    sample = corpus("spamassassin_samples", "gtube.txt").read_bytes()
    assert (await judge(sample))["spam"]


async def test_ordinary_mail_is_not_spam() -> None:
    for raw in (
        HAM,
        message(subject="Re: [Rd] R CMD check warning", text="> quoted\nThanks, fixed in r67890.\n"),
        message(subject="Lunch?", text="Noon at the usual place?\n", dated=False),
        message(
            subject="Your order has shipped",
            text="Order 1234 is on its way. Track it at https://shop.example.com/track/1234\n",
            html='<p>Order 1234 is on its way. <a href="https://shop.example.com/track/1234">Track it</a></p>',
        ),
    ):
        verdict = await judge(raw)
        assert not verdict["spam"] and verdict["score"] < 2, verdict
    sample = corpus("spamassassin_samples", "sample-nonspam.txt").read_bytes()
    assert not (await judge(sample))["spam"]


async def test_phishing_mail_matches_several_rules_and_is_spam() -> None:
    raw = message(subject="ACCOUNT SUSPENDED - ACTION REQUIRED", text=None, html=PHISH_HTML, dated=False)
    found = rules(raw)
    assert {
        "SUBJ_ALL_CAPS", "PHISHING", "LINK_TEXT_MISMATCH", "URL_IP_HOST", "HTML_ONLY", "HTML_HIDDEN_TEXT",
        "DEAR_GENERIC", "MISSING_DATE", "MISSING_MESSAGE_ID",
    } <= found  # fmt: skip
    verdict = await judge(raw)
    assert verdict["spam"] and verdict["score"] == pytest.approx(sum(RULES[name].score for name in found))


@pytest.mark.parametrize(
    ("rule", "raw"),
    [
        ("LOTTERY", message(text="You have won the lottery! Contact our claims agent.\n")),
        (
            "ADVANCE_FEE",
            message(text="As next of kin you are the beneficiary of 10.5 million US dollars.\n"),
        ),
        ("LARGE_MONEY", message(text="The sum of US$ 10,500,000.00 awaits you.\n")),
        ("PHARMA", message(text="Cheap Viagra and Cialis from our online pharmacy.\n")),
        ("CRYPTO_INVEST", message(text="Bitcoin trading platform: guaranteed returns every day.\n")),
        ("SEO_OFFER", message(text="Our SEO team gets you to the first page of Google.\n")),
        ("INVOICE_LURE", message(text="Your payment is overdue. See attached invoice.\n")),
        ("URGENCY", message(text="Act now: this is your last chance.\n")),
        ("MARKETING_HYPE", message(text="100% free and risk-free. Order now!\n")),
        ("CLICK_HERE", message(text="Click here to see it.\n")),
        ("SUBJ_SPAM_PHRASE", message(subject="Congratulations!!! You are our winner")),
        ("URL_SHORTENER", message(text="See https://bit.ly/3xYzAbc\n")),
        ("FROM_NAME_OTHER_ADDRESS", message(sender='"service@paypal.com" <alerts@mailer.example.net>')),
        ("FREEMAIL_REPLYTO", message(headers={"Reply-To": "claims.office2027@gmail.com"})),
        ("BULK_RECIPIENTS", message(headers={"Cc": ", ".join(f"u{i}@example.org" for i in range(25))})),
        ("ATTACH_HTML", message(attachments=[("Remittance.html", b"<form>password</form>")])),
        ("ATTACH_EXECUTABLE", message(attachments=[("setup.exe", b"MZ")])),
        ("ATTACH_DOUBLE_EXT", message(attachments=[("invoice.pdf.exe", b"MZ")])),
        ("SEXTORTION", message(text="I am a hacker. I recorded a video of you on an adult site.\n")),
        (
            "GIFT_CARD_REQUEST",
            message(text="Buy 5 Apple gift cards, scratch the back and send me the codes.\n"),
        ),
        ("BRAND_IMPERSONATION", message(sender="PayPal Service <service@account-review.example>")),
        ("BRAND_IMPERSONATION", message(text="Sign in at https://paypal.com.account-review.example/login\n")),
        ("FROM_IS_TO", message(sender=AGENT)),
        ("SUBJ_MONEY", message(subject="Turn $250 into $12,400")),
        (
            "SPAM_PHRASES_MANY",
            message(text="Online pharmacy: viagra, cialis and xanax with no prescription, lowest price.\n"),
        ),
    ],
)
def test_each_rule_matches_its_signal_and_not_ordinary_mail(rule: str, raw: bytes) -> None:
    assert rule in rules(raw)
    assert rule not in rules(HAM)


def test_brands_sending_from_their_own_domains_are_not_impersonated() -> None:
    for raw in (
        message(sender="PayPal <service@paypal.com>", text="Receipt: https://www.paypal.com/activity\n"),
        message(sender="Amazon.co.jp <shipment@amazon.co.jp>", text="https://www.amazon.co.jp/orders\n"),
        message(sender="Chase Miller <chase.miller@example.org>"),
        message(text="Join at https://outlook.office365.com/owa and https://groups.google.com/g/r-devel\n"),
    ):
        assert "BRAND_IMPERSONATION" not in rules(raw)


def test_corpora_ham_is_not_spam() -> None:
    from spam_corpus import load_sample

    corpus("mbox_r_devel")
    flagged = []
    for sample in load_sample():
        if not sample.spam:
            score = sum(match.score for match in match_rules(inspect(sample.raw)))
            if score >= 5.0:
                flagged.append((sample.name, score))
    assert flagged == []


def test_base64_text_counts_only_for_ascii_text() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", AGENT, "b64"
    msg.set_content("plain words only\n", cte="base64")
    assert "BASE64_TEXT" in rules(bytes(msg))
    msg.set_content("Grüße und Küsse aus Köln\n", cte="base64")
    assert "BASE64_TEXT" not in rules(bytes(msg))
    assert "BASE64_TEXT" not in rules(message(attachments=[("data.bin", b"\x00" * 200)]))


def test_list_rewritten_from_is_not_another_address() -> None:
    assert "FROM_NAME_OTHER_ADDRESS" not in rules(
        message(sender="'ann@example.com' via Dev <dev@lists.example>")
    )
    assert "FROM_NAME_OTHER_ADDRESS" not in rules(message(sender='"ann@example.com" <ann@example.com>'))
    same_person = message(sender="Ann <ann@work.example>", headers={"Reply-To": "ann@work.example"})
    assert "FREEMAIL_REPLYTO" not in rules(same_person)


async def test_authentication_failures_are_scored_but_not_enough_alone() -> None:
    failed = {"spf": "fail", "dkim": "fail", "dmarc": "fail", "dmarc_policy": "reject", "header": "x"}
    assert rules(HAM, failed) >= {"SPF_FAIL", "DKIM_FAIL", "DMARC_FAIL", "DMARC_FAIL_REJECT"}
    for alone in ({"spf": "fail"}, {"spf": "softfail"}, {"dkim": "fail"}, {"dmarc": "fail"}):
        assert not (await judge(HAM, {"spf": "none", "dkim": "none", "dmarc": "none", **alone}))["spam"]
    assert rules(HAM, {"spf": "pass", "dkim": "pass", "dmarc": "pass"}) == set()
    assert rules(HAM, {"error": "the authentication check failed: timed out"}) == set()
    # Together with a content signal they tip the balance.
    lure = message(text="Your payment is overdue. See attached invoice.\n")
    assert not (await judge(lure))["spam"]
    assert (await judge(lure, failed))["spam"]


def test_rules_are_cheap_and_read_only_the_start_of_long_bodies() -> None:
    huge = message(
        text=("All fine here, nothing to see. " * 40 + "\n") * 3000 + "Cheap viagra online pharmacy\n"
    )
    inspection = inspect(huge)
    started = time.perf_counter()
    found = {match.name for match in match_rules(inspection)}
    assert time.perf_counter() - started < 0.02
    assert "PHARMA" not in found  # beyond the part of the body the rules read
    typical = inspect(HAM)
    match_rules(typical)
    started = time.perf_counter()
    for _ in range(200):
        match_rules(typical)
    assert (time.perf_counter() - started) / 200 < 0.001


@pytest.mark.parametrize(
    "body",
    ['<a href="http://x.example/">' * 2000, "<" * 60_000, "<a href=" * 6000, "<style>" * 8000, "x@" * 30_000,
     "a." * 30_000, "http://" * 8000, "1." * 30_000],
)  # fmt: skip
def test_hostile_bodies_take_linear_time(body: str) -> None:
    for raw in (message(text=None, html=f"<html>{body}"), message(text=body)):
        inspection = inspect(raw)
        started = time.perf_counter()
        match_rules(inspection)
        assert time.perf_counter() - started < 0.2  # ~3 ms; unclosed tags once made this 40 s


def test_malformed_mail_gets_a_verdict() -> None:
    for raw in (
        b"",
        b"\x00\xff garbage",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"\r\n" * 50,
    ):
        match_rules(inspect(raw))


# --- settings --------------------------------------------------------------------------------------------


def test_scanner_settings_are_parsed() -> None:
    assert parse_spam_scanner("builtin") == ("builtin", "", 0)
    assert parse_spam_scanner(" None ") == ("none", "", 0)
    assert parse_spam_scanner("spamd://127.0.0.1:7830") == ("spamd", "127.0.0.1", 7830)
    assert parse_spam_scanner("spamd://scanner.internal") == ("spamd", "scanner.internal", 783)
    assert parse_spam_scanner("rspamd://[::1]:11333") == ("rspamd", "::1", 11333)
    assert parse_spam_scanner("rspamd://localhost") == ("rspamd", "localhost", 11333)


@pytest.mark.parametrize(
    "value",
    ["", "spamassassin", "clamd://127.0.0.1:3310", "spamd://", "spamd://host:99999", "spamd://host:port",
     "rspamd://host:11333/checkv2", "spamd://user:pw@host:783", "http://127.0.0.1:11333"],
)  # fmt: skip
def test_bad_scanner_settings_raise_validation_error(value: str) -> None:
    with expect(ValidationError, "validation_error") as caught:
        parse_spam_scanner(value)
    assert caught.value.errors[0]["path"] == ["spam_scanner"] and repr(value) in caught.value.message


async def test_a_client_with_a_bad_scanner_setting_refuses_to_open(database_url: str) -> None:
    engine = AsyncAgentInbox(database_url=database_url, spam_scanner="spamd:/127.0.0.1")
    try:
        with expect(ValidationError, "validation_error") as caught:
            await engine.inboxes.create(username="desk")
        assert "spam_scanner" in caught.value.message
    finally:
        await engine.close()


# --- the adapters against the real daemons ----------------------------------------------------------------

GTUBE_MAIL = message(subject="Test", text=f"This is a test.\n{GTUBE.decode()}\n")


async def test_spamd_judges_gtube_spam_and_ham_not(spamd_address: tuple[str, int]) -> None:
    host, port = spamd_address
    spam = await spamd_symbols(host, port, GTUBE_MAIL, seconds=20)
    assert spam.spam and spam.score >= 1000 and spam.threshold == 5.0 and "GTUBE" in spam.rules
    ham = await spamd_symbols(host, port, HAM, seconds=20)
    assert not ham.spam and ham.score < 5.0 and ham.threshold == 5.0


async def test_spamd_is_sent_at_most_max_size_bytes(spamd_address: tuple[str, int]) -> None:
    received: list[bytes] = []

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())  # to the end: the client half-closes after the message
        writer.write(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: False ; 0.5 / 5.0\r\n\r\nRULE1")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(recording, "127.0.0.1", 0)
    try:
        padded = message(text=GTUBE.decode() + "\n" + "filler line of ordinary text\n" * 40_000)
        assert len(padded) > 1_000_000
        port = int(server.sockets[0].getsockname()[1])
        result = await spamd_symbols("127.0.0.1", port, padded, seconds=20)
        assert result == SpamdResult(spam=False, score=0.5, threshold=5.0, rules=["RULE1"])
        head, _, body = received[0].partition(b"\r\n\r\n")
        assert head.startswith(b"SYMBOLS SPAMC/1.5\r\n") and f"Content-length: {len(body)}".encode() in head
        assert len(body) <= DEFAULT_MAX_SIZE and body.endswith(b"\n") and padded.startswith(body)
    finally:
        server.close()
    # The real spamd judges the part it is sent.
    host, port = spamd_address
    assert (await spamd_symbols(host, port, padded, seconds=20)).spam


async def test_rspamd_judges_gtube_spam_and_ham_not(rspamd_address: tuple[str, int]) -> None:
    host, port = rspamd_address
    spam = await rspamd_check(host, port, GTUBE_MAIL, seconds=20, mail_from="carol@example.com")
    assert spam.spam and spam.action == "reject" and spam.score >= spam.threshold > 0
    assert "GTUBE" in spam.symbols
    ham = await rspamd_check(
        host, port, HAM, seconds=20, mail_from="carol@example.com", client_ip="192.0.2.10", helo="mx.example.com",
        rcpt_to=[AGENT],
    )  # fmt: skip
    assert not ham.spam and ham.action not in SPAM_ACTIONS and ham.score < ham.threshold
    assert ham.symbols  # rspamd names what it looked at, e.g. MIME_GOOD


@pytest.mark.parametrize(
    ("action", "spam"),
    [("reject", True), ("add header", True), ("rewrite subject", True), ("greylist", False),
     ("soft reject", False), ("no action", False)],
)  # fmt: skip
def test_rspamd_actions_that_mean_spam(action: str, spam: bool) -> None:
    answer = (
        f'{{"action": "{action}", "score": 7.5, "required_score": 15, "symbols": {{"B": {{}}, "A": {{}}}}}}'
    )
    result = parse_rspamd(answer.encode())
    assert result == RspamdResult(action=action, spam=spam, score=7.5, threshold=15.0, symbols=["A", "B"])


@pytest.mark.parametrize(
    "answer",
    [b"[]", b'{"score": 1}', b'{"action": "reject"}', b'{"action": "reject", "score": true}', b"\xff"],
)
def test_rspamd_answers_without_action_and_score_are_errors(answer: bytes) -> None:
    with pytest.raises(RspamdError):
        parse_rspamd(answer)


def test_spamd_answers_are_parsed() -> None:
    answer = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: Yes ; 6.1 / 5.0\r\n\r\nA_RULE,B\r\n"
    assert parse_spamd(answer) == SpamdResult(spam=True, score=6.1, threshold=5.0, rules=["A_RULE", "B"])
    for broken in (b"", b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1.2.3 / 5\r\n\r\n", b"SPAMD/1.1 0 EX_OK\r\n"):
        with pytest.raises(SpamdError):
            parse_spamd(broken)


@pytest.fixture
async def fake_daemon() -> AsyncIterator[Callable[[bytes | None], Awaitable[int]]]:
    """A loopback server that reads a request and answers ``reply`` (or never answers, for None)."""
    servers: list[asyncio.Server] = []

    async def start(reply: bytes | None) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65_536)
            if reply is None:
                await asyncio.sleep(30)
            writer.write(reply or b"")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


async def test_daemons_that_are_down_slow_or_garbled_raise_clear_errors(
    fake_daemon: Callable[[bytes | None], Awaitable[int]],
) -> None:
    down = free_port()
    with pytest.raises(SpamdError, match="unreachable"):
        await spamd_symbols("127.0.0.1", down, HAM, seconds=5)
    with pytest.raises(RspamdError, match="unreachable"):
        await rspamd_check("127.0.0.1", down, HAM, seconds=5)
    slow = await fake_daemon(None)
    started = time.monotonic()
    with pytest.raises(SpamdError, match=r"did not answer within 0\.5 s"):
        await spamd_symbols("127.0.0.1", slow, HAM, seconds=0.5)
    with pytest.raises(RspamdError, match=r"did not answer within 0\.5 s"):
        await rspamd_check("127.0.0.1", slow, HAM, seconds=0.5)
    assert time.monotonic() - started < 3
    garbage = await fake_daemon(b"HTTP/1.0 200 OK\r\n\r\nhello")
    with pytest.raises(SpamdError, match=r"not a SPAMD/1\.x status line"):
        await spamd_symbols("127.0.0.1", garbage, HAM, seconds=5)
    with pytest.raises(RspamdError, match="not JSON"):
        await rspamd_check("127.0.0.1", garbage, HAM, seconds=5)
    refused = await fake_daemon(b"SPAMD/1.1 76 Bad header line: Content-length: x\r\n\r\n")
    with pytest.raises(SpamdError, match="refused the message: 76"):
        await spamd_symbols("127.0.0.1", refused, HAM, seconds=5)
    no_header = await fake_daemon(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n")
    with pytest.raises(SpamdError, match="without a valid Spam header"):
        await spamd_symbols("127.0.0.1", no_header, HAM, seconds=5)
    error = await fake_daemon(
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"error":"bad message"}'
    )
    with pytest.raises(RspamdError, match="bad message"):
        await rspamd_check("127.0.0.1", error, HAM, seconds=5)
    http_error = await fake_daemon(b"HTTP/1.0 500 Internal Server Error\r\n\r\noops")
    with pytest.raises(RspamdError, match="HTTP 500"):
        await rspamd_check("127.0.0.1", http_error, HAM, seconds=5)


# --- end to end: the engine labels spam ------------------------------------------------------------------


@pytest.fixture(params=["builtin", "spamd", "rspamd"])
def scanner(request: pytest.FixtureRequest) -> str:
    """The ``spam_scanner`` setting for each scanner, its daemon started when it needs one."""
    if request.param == "builtin":
        return "builtin"
    host, port = request.getfixturevalue(f"{request.param}_address")
    return f"{request.param}://{host}:{port}"


async def test_spam_is_labelled_hidden_and_announced(
    database_url: str, clock: ManualClock, scanner: str
) -> None:
    engine = AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock, spam_scanner=scanner,
        smtp_listen="127.0.0.1:0",
    )  # fmt: skip
    try:
        await engine.inboxes.create(username="desk")
        spam_events: list[Any] = []
        arrived = asyncio.Event()

        def on_spam(event: Any) -> None:
            spam_events.append(event)
            arrived.set()

        engine.on("message.received.spam")(on_spam)
        await engine.start()
        [spam] = await engine.deliver(GTUBE_MAIL, mail_from="carol@example.com", rcpt_to=[AGENT])
        [ham] = await engine.deliver(HAM, mail_from="carol@example.com", rcpt_to=[AGENT])
        kind = scanner.partition(":")[0]
        assert "spam" in spam.labels and spam.spam is not None
        assert spam.spam.scanner == kind and spam.spam.spam and spam.spam.score >= spam.spam.threshold
        assert spam.spam.rules and spam.spam.error is None
        assert "spam" not in ham.labels and ham.spam is not None and not ham.spam.spam
        assert ham.spam.scanner == kind and ham.spam.error is None

        listed = await engine.inboxes.messages.list(inbox_id=AGENT)
        assert [m.message_id for m in listed.messages] == [ham.message_id]
        everything = await engine.inboxes.messages.list(inbox_id=AGENT, include_spam=True)
        assert {m.message_id for m in everything.messages} == {spam.message_id, ham.message_id}
        threads = await engine.inboxes.threads.list(inbox_id=AGENT)
        assert spam.thread_id not in {t.thread_id for t in threads.threads}
        await asyncio.wait_for(arrived.wait(), 10)
        assert [e.message.message_id for e in spam_events] == [spam.message_id]

        # The same over real SMTP.
        arrived.clear()
        host, port = engine.smtp_address or ("", 0)
        over_smtp = GTUBE_MAIL.replace(b"Subject: Test", b"Subject: Test over SMTP").replace(
            b"Message-ID: <", b"Message-ID: <smtp."
        )
        errors, _ = await aiosmtplib.send(
            over_smtp, sender="carol@example.com", recipients=[AGENT], hostname=host, port=port
        )
        assert errors == {}
        await asyncio.wait_for(arrived.wait(), 30)
        received = spam_events[-1].message
        assert received.subject == "Test over SMTP" and "spam" in received.labels
        stored = await engine.inboxes.messages.get(inbox_id=AGENT, message_id=received.message_id)
        assert stored.spam is not None and stored.spam.spam and stored.spam.scanner == kind
        assert (await engine.inboxes.messages.list(inbox_id=AGENT)).count == 1
    finally:
        await engine.close()


@pytest.mark.parametrize("kind", ["spamd", "rspamd"])
async def test_a_scanner_that_is_down_or_slow_leaves_an_error_and_no_label(
    database_url: str, clock: ManualClock, kind: str, fake_daemon: Callable[[bytes | None], Awaitable[int]]
) -> None:
    slow = await fake_daemon(None)
    for port, error in ((free_port(), "unreachable"), (slow, "did not answer within 0.9 s")):
        engine = AsyncAgentInbox(
            database_url=database_url, default_domain="agents.test", clock=clock,
            spam_scanner=f"{kind}://127.0.0.1:{port}", check_timeout=1,
        )  # fmt: skip
        try:
            await engine.inboxes.create(username="desk", client_id="desk")
            started = time.monotonic()
            [stored] = await engine.deliver(GTUBE_MAIL.replace(b"Test", error.encode()), rcpt_to=[AGENT])
            assert time.monotonic() - started < 5
            assert "spam" not in stored.labels
            assert stored.spam is not None and stored.spam.scanner == kind and not stored.spam.spam
            assert (
                stored.spam.error and error in stored.spam.error and f"127.0.0.1:{port}" in stored.spam.error
            )
            listed = await engine.inboxes.messages.list(inbox_id=AGENT)
            assert stored.message_id in [m.message_id for m in listed.messages]
        finally:
            await engine.close()


async def test_no_scanner_gives_no_verdict(database_url: str, clock: ManualClock) -> None:
    engine = AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", clock=clock, spam_scanner="none"
    )
    try:
        await engine.inboxes.create(username="desk")
        [stored] = await engine.deliver(GTUBE_MAIL, rcpt_to=[AGENT])
        assert "spam" not in stored.labels and stored.spam is None
    finally:
        await engine.close()
