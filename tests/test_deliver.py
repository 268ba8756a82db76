"""``client.deliver``: raw mail through the inbound pipeline; malformed mail is stored with its bytes intact."""

from __future__ import annotations

import pytest
from helpers import corpus

from agentinbox import AsyncAgentInbox, MessageRejectedError, NotFoundError, ValidationError

SIMPLE = (
    b"From: Carol <carol@example.com>\r\n"
    b"To: desk@agents.test\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Carol\r\n"
    b"Message-ID: <simple-1@example.com>\r\n"
    b"Date: Mon, 04 Jan 2027 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello desk.\r\n"
)


async def test_deliver_stores_one_message_per_inbox(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    other = await client.inboxes.create(username="other")
    raw = SIMPLE.replace(b"To: desk@agents.test", b"To: desk@agents.test, Other <other@agents.test>")
    stored = await client.deliver(raw)
    assert sorted(m.inbox_id for m in stored) == [desk.inbox_id, other.inbox_id]
    message = stored[0]
    assert message.subject == "Grüße from Carol"
    assert message.from_ == "Carol <carol@example.com>"
    assert message.labels == ["received", "unread"]
    assert message.message_id == "<simple-1@example.com>"
    assert message.timestamp.isoformat().startswith("2027-01-04T10:00:00")
    raw_back = await client.inboxes.messages.get_raw(inbox_id=desk.inbox_id, message_id=message.message_id)
    assert raw_back.content == raw
    assert raw_back.size == len(raw)


async def test_redelivery_is_not_stored_twice(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    first = await client.deliver(SIMPLE, rcpt_to=[desk.inbox_id])
    again = await client.deliver(SIMPLE, rcpt_to=[desk.inbox_id])
    assert first[0].message_id == again[0].message_id
    listing = await client.inboxes.messages.list(inbox_id=desk.inbox_id)
    assert listing.count == 1


async def test_same_message_id_other_content_keeps_both(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    await client.deliver(SIMPLE, rcpt_to=[desk.inbox_id])
    changed = SIMPLE.replace(b"Hello desk.", b"Hello again, desk.")
    stored = await client.deliver(changed, rcpt_to=[desk.inbox_id])
    assert stored[0].message_id != "<simple-1@example.com>"
    listing = await client.inboxes.messages.list(inbox_id=desk.inbox_id)
    assert listing.count == 2
    raw = await client.inboxes.messages.get_raw(inbox_id=desk.inbox_id, message_id=stored[0].message_id)
    assert raw.content == changed
    # Both are one conversation: the second shares the first's Message-ID.
    assert len({m.thread_id for m in listing.messages}) == 1


async def test_missing_and_unsafe_message_ids(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    no_id = SIMPLE.replace(b"Message-ID: <simple-1@example.com>\r\n", b"")
    stored = (await client.deliver(no_id, rcpt_to=[desk.inbox_id]))[0]
    assert stored.message_id.startswith("<") and stored.message_id.endswith("@agents.test>")
    # The same bytes again get the same derived id, so they are recognised as a redelivery.
    assert (await client.deliver(no_id, rcpt_to=[desk.inbox_id]))[0].message_id == stored.message_id
    unsafe = SIMPLE.replace(b"<simple-1@example.com>", b"<a/b?c#d%e f@example.com>")
    stored = (await client.deliver(unsafe, rcpt_to=[desk.inbox_id]))[0]
    assert not any(ch in stored.message_id for ch in "/?#% ")
    got = await client.inboxes.messages.get(inbox_id=desk.inbox_id, message_id=stored.message_id)
    assert got.subject == "Grüße from Carol"


async def test_unknown_recipients_are_refused_and_nothing_is_stored(client: AsyncAgentInbox) -> None:
    desk = await client.inboxes.create(username="desk")
    with pytest.raises(NotFoundError) as caught:
        await client.deliver(SIMPLE, rcpt_to=[desk.inbox_id, "nobody@agents.test"])
    assert caught.value.code == "not_found" and "nobody@agents.test" in caught.value.message
    assert (await client.inboxes.messages.list(inbox_id=desk.inbox_id)).count == 0
    stray = SIMPLE.replace(b"To: desk@agents.test", b"To: someone@example.org")
    with pytest.raises(NotFoundError):
        await client.deliver(stray)


@pytest.mark.parametrize(
    ("raw", "mail_from", "rcpt_to"),
    [
        ("not bytes", None, None),
        (SIMPLE, 42, None),
        (SIMPLE, None, []),
        (SIMPLE, None, ["not-an-address"]),
        (SIMPLE, None, [None]),
    ],
)
async def test_bad_envelopes_are_validation_errors(
    client: AsyncAgentInbox, raw: object, mail_from: object, rcpt_to: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.deliver(raw, mail_from=mail_from, rcpt_to=rcpt_to)  # type: ignore[arg-type]
    assert caught.value.code == "validation_error" and caught.value.message


async def test_oversized_mail_is_rejected(database_url: str) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", max_message_size=500
    ) as c:
        desk = await c.inboxes.create(username="desk")
        with pytest.raises(MessageRejectedError) as caught:
            await c.deliver(SIMPLE + b"x" * 1000, rcpt_to=[desk.inbox_id])
        assert caught.value.code == "message_rejected" and "500" in caught.value.message
        assert (await c.inboxes.messages.list(inbox_id=desk.inbox_id)).count == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02 binary garbage \xff\xfe",
        b"no headers at all, just a line\n",
        b"Subject: only a subject\n\n",
        b"From: \xe4\xf6\xfc <weird@example.com>\nSubject: \xff\xfe\nTo: desk@agents.test\n\nbody \xff\n",
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nunterminated",
        b"Content-Type: text/plain; charset=no-such-charset\n\n\xe9t\xe9\n",
        b"Content-Transfer-Encoding: base64\n\n!!!not base64!!!\n",
        b"X-Long: " + b"a" * 20000 + b"\n\nbody\n",
    ],
)
async def test_malformed_mail_is_stored_intact(client: AsyncAgentInbox, raw: bytes) -> None:
    desk = await client.inboxes.create(username="desk")
    stored = await client.deliver(raw, rcpt_to=[desk.inbox_id])
    assert len(stored) == 1
    back = await client.inboxes.messages.get_raw(inbox_id=desk.inbox_id, message_id=stored[0].message_id)
    assert back.content == raw
    assert (await client.inboxes.threads.list(inbox_id=desk.inbox_id)).count == 1


async def test_malformed_mime_corpus(client: AsyncAgentInbox) -> None:
    """Every message of the malformed-MIME and CPython defect corpora is stored, byte for byte."""
    folder = corpus("malformed_mime")
    index = (folder / "INDEX.tsv").read_text().splitlines()[1:]
    files = [folder / line.split("\t")[0] for line in index if line.strip()]
    files += [p for p in corpus("cpython_email").rglob("*") if p.suffix in (".eml", ".txt") and p.is_file()]
    assert len(files) > 150
    desk = await client.inboxes.create(username="desk")
    for path in files:
        raw = path.read_bytes()
        stored = await client.deliver(raw, rcpt_to=[desk.inbox_id])
        back = await client.inboxes.messages.get_raw(inbox_id=desk.inbox_id, message_id=stored[0].message_id)
        assert back.content == raw, path


async def test_concurrent_deliveries_fail_alone(client: AsyncAgentInbox) -> None:
    """Writes that share a group commit on SQLite: a failing one is undone alone, the others are stored."""
    import asyncio

    desk = await client.inboxes.create(username="desk")
    raws = [SIMPLE.replace(b"<simple-1@", f"<many-{i}@".encode()) for i in range(40)]
    calls = [client.deliver(raw, rcpt_to=[desk.inbox_id]) for raw in raws]
    calls.insert(20, client.deliver(SIMPLE, rcpt_to=["ghost@agents.test"]))
    results = await asyncio.gather(*calls, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], NotFoundError)
    listing = await client.inboxes.messages.list(inbox_id=desk.inbox_id, limit=100)
    assert listing.count == 40


async def test_signature_and_forwarded_message_are_stored_apart(client: AsyncAgentInbox) -> None:
    await client.inboxes.create(username="desk")
    raw = (
        b"From: Grace <grace@example.com>\r\nTo: desk@agents.test\r\nSubject: Fwd: Contract review\r\n"
        b"Message-ID: <fwd-1@example.com>\r\n\r\n"
        b"Adding you for visibility.\r\n\r\nThanks,\r\nGrace\r\n\r\n"
        b"---------- Forwarded message ---------\r\nFrom: Legal <legal@example.com>\r\n"
        b"Date: Mon, Mar 3, 2025 at 5:15 PM\r\nSubject: Contract review\r\nTo: Grace <grace@example.com>\r\n\r\n\r\n"
        b"The contract is approved with two minor edits.\r\n"
    )
    [stored] = await client.deliver(raw, rcpt_to=["desk@agents.test"])
    assert stored.signature == "Thanks,\nGrace"
    assert stored.forwarded is not None
    assert stored.forwarded.from_ == "Legal <legal@example.com>"
    assert stored.forwarded.subject == "Contract review"
    assert stored.forwarded.text.strip() == "The contract is approved with two minor edits."
    # Nothing is lost from the new content: the note, its signature and the forward are all still there.
    assert stored.extracted_text is not None and "approved with two minor edits" in stored.extracted_text
    got = await client.inboxes.messages.get(inbox_id="desk@agents.test", message_id=stored.message_id)
    assert got.forwarded == stored.forwarded and got.signature == stored.signature
    assert got.model_dump(by_alias=True, mode="json")["forwarded"]["from"] == "Legal <legal@example.com>"
