"""client.inboxes.messages: list filters and pages, labels, delete, batch get/update, raw, attachments, send checks."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import timedelta
from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AsyncAgentInbox,
    Inbox,
    MessageRejectedError,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock


def header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


async def inboxes(client: AsyncAgentInbox, *names: str) -> list[Inbox]:
    return [await client.inboxes.create(username=name) for name in names]


async def mailbox(client: AsyncAgentInbox, clock: ManualClock) -> dict[str, Any]:
    """``me`` receives three messages from alice and bob, a minute apart, and sends one to outside."""
    me, alice, bob = await inboxes(client, "me", "alice", "bob")
    sends = []
    for sender, kwargs in (
        (alice, {"to": [me.inbox_id], "subject": "Invoice 1", "text": "First invoice"}),
        (bob, {"to": [me.inbox_id], "subject": "Meeting notes", "text": "Notes"}),
        (
            alice,
            {"to": [me.inbox_id], "cc": [bob.inbox_id], "subject": "Invoice 2", "text": "Second invoice"},
        ),
    ):
        sends.append(await client.inboxes.messages.send(inbox_id=sender.inbox_id, **kwargs))
        clock.advance(60)
    ids = [s.message_id for s in sends]
    return {"me": me, "alice": alice, "bob": bob, "ids": ids}


async def listed(client: AsyncAgentInbox, inbox_id: str, **kwargs: Any) -> list[str]:
    page = await client.inboxes.messages.list(inbox_id=inbox_id, **kwargs)
    assert page.count == len(page.messages)
    return [m.message_id for m in page.messages]


# -- list ---------------------------------------------------------------------------------------------------------


async def test_list_order_and_fields(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    page = await client.inboxes.messages.list(inbox_id=me.inbox_id)
    assert [m.message_id for m in page.messages] == list(reversed(ids))
    assert page.next_page_token is None
    item = page.messages[0]
    assert item.subject == "Invoice 2"
    assert item.labels == ["received", "unread"]
    assert box["alice"].inbox_id in item.from_
    assert item.cc and box["bob"].inbox_id in item.cc[0]
    assert not hasattr(item, "text")  # list items carry no bodies
    assert await listed(client, me.inbox_id, ascending=True) == ids


async def test_list_label_filter_requires_all(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[0], add_labels=["urgent"])
    await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=ids[2], add_labels=["Urgent", "Billing"]
    )
    assert await listed(client, me.inbox_id, labels=["urgent"]) == [ids[2], ids[0]]
    assert await listed(client, me.inbox_id, labels=["URGENT", "billing"]) == [ids[2]]
    assert await listed(client, me.inbox_id, labels="billing") == [ids[2]]
    assert await listed(client, me.inbox_id, labels=["urgent", "nothing"]) == []
    assert await listed(client, me.inbox_id, labels=["received", "unread"]) == list(reversed(ids))
    assert await listed(client, me.inbox_id, labels=["sent"]) == []


async def test_list_before_and_after(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    stamps = [(await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=i)).timestamp for i in ids]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    # after is "at or after", before is "strictly before".
    assert await listed(client, me.inbox_id, after=stamps[1]) == [ids[2], ids[1]]
    assert await listed(client, me.inbox_id, before=stamps[1]) == [ids[0]]
    assert await listed(client, me.inbox_id, after=stamps[0], before=stamps[2]) == [ids[1], ids[0]]
    assert await listed(client, me.inbox_id, after=stamps[2] + timedelta(seconds=1)) == []
    naive = stamps[1].replace(tzinfo=None)  # naive datetimes are UTC
    assert await listed(client, me.inbox_id, after=naive) == [ids[2], ids[1]]
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.list(inbox_id=me.inbox_id, after="yesterday")  # type: ignore[arg-type]


async def test_list_substring_filters(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids, bob = box["me"], box["ids"], box["bob"]
    assert await listed(client, me.inbox_id, from_="ALICE@") == [ids[2], ids[0]]
    assert await listed(client, me.inbox_id, from_=["bob"]) == [ids[1]]
    assert await listed(client, me.inbox_id, from_=["alice", "bob"]) == []  # all must match
    # "to" matches to, cc or bcc.
    assert await listed(client, me.inbox_id, to=bob.inbox_id) == [ids[2]]
    assert await listed(client, me.inbox_id, to=["me@agents"]) == list(reversed(ids))
    assert await listed(client, me.inbox_id, subject="invoice") == [ids[2], ids[0]]
    assert await listed(client, me.inbox_id, subject=["INVOICE", "2"]) == [ids[2]]
    assert await listed(client, me.inbox_id, subject=["invoice"], from_="bob") == []
    # LIKE wildcards are matched literally.
    assert await listed(client, me.inbox_id, subject="%") == []
    assert await listed(client, me.inbox_id, subject="_nvoice") == []


async def test_list_hides_spam_and_trash_until_asked(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[0], add_labels="spam")
    await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[1], add_labels=["TRASH"])
    assert await listed(client, me.inbox_id) == [ids[2]]
    assert await listed(client, me.inbox_id, include_spam=True) == [ids[2], ids[0]]
    assert await listed(client, me.inbox_id, include_trash=True) == [ids[2], ids[1]]
    assert await listed(client, me.inbox_id, include_spam=True, include_trash=True) == list(reversed(ids))
    # Asking for the label itself shows those messages.
    assert await listed(client, me.inbox_id, labels=["spam"]) == [ids[0]]
    assert await listed(client, me.inbox_id, labels=["trash"]) == [ids[1]]
    # Search always leaves them out.
    found = await client.inboxes.messages.search(inbox_id=me.inbox_id, q="invoice")
    assert [m.message_id for m in found.messages] == [ids[2]]
    # Removing the label restores the message.
    await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[1], remove_labels="trash")
    assert await listed(client, me.inbox_id) == [ids[2], ids[1]]
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.list(inbox_id=me.inbox_id, include_spam="yes")  # type: ignore[arg-type]


async def test_list_pages(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, other = await inboxes(client, "me", "other")
    sent = []
    for i in range(11):
        sent.append(
            await client.inboxes.messages.send(inbox_id=other.inbox_id, to=[me.inbox_id], text=f"{i}")
        )
        if i % 3:
            clock.advance(1)  # some messages share a timestamp: the tie-breaker must hold
    for ascending in (False, True):
        seen: list[str] = []
        token = None
        while True:
            page = await client.inboxes.messages.list(
                inbox_id=me.inbox_id, limit=4, page_token=token, ascending=ascending
            )
            assert page.count == len(page.messages) <= 4 and page.limit == 4
            seen += [m.message_id for m in page.messages]
            token = page.next_page_token
            if token is None:
                break
        assert len(seen) == len(set(seen)) == 11
        assert set(seen) == {s.message_id for s in sent}


async def test_list_bad_page_token_and_limit(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me = box["me"]
    for token in ("garbage", "%%%", "eyJ4IjoxfQ"):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.messages.list(inbox_id=me.inbox_id, page_token=token)
    inbox_token = (await client.inboxes.list(limit=1)).next_page_token
    assert inbox_token
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.list(inbox_id=me.inbox_id, page_token=inbox_token)
    own = (await client.inboxes.messages.list(inbox_id=me.inbox_id, limit=1)).next_page_token
    assert own
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.list(inbox_id=me.inbox_id, page_token=own, ascending=True)
    thread_token = (await client.threads.list(limit=1)).next_page_token
    assert thread_token
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.list(inbox_id=me.inbox_id, page_token=thread_token)
    for limit in (0, -3, True):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.messages.list(inbox_id=me.inbox_id, limit=limit)


async def test_list_unknown_inbox(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.list(inbox_id="nobody@agents.test")


# -- get, update, delete ---------------------------------------------------------------------------------------------


async def test_get_message_and_scope(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, alice, ids = box["me"], box["alice"], box["ids"]
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=ids[0])
    assert message.text and message.text.strip() == "First invoice"
    assert message.inbox_id == me.inbox_id
    assert message.size > 0
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id="<nope@agents.test>")
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get(inbox_id=box["bob"].inbox_id, message_id=ids[0])  # not bob's
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id="")
    # The sender holds its own copy under the same id.
    own = await client.inboxes.messages.get(inbox_id=alice.inbox_id, message_id=ids[0])
    assert "sent" in own.labels and "received" not in own.labels


async def test_update_labels(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    clock.advance(5)
    result = await client.inboxes.messages.update(
        inbox_id=me.inbox_id,
        message_id=ids[0],
        add_labels=["Needs-Review", " Follow Up "],
        remove_labels="unread",
    )
    assert result.message_id == ids[0]
    assert result.labels == ["follow up", "needs-review", "received"]
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=ids[0])
    assert message.labels == result.labels
    assert message.updated_at > message.created_at
    assert await listed(client, me.inbox_id, labels=["unread"]) == [ids[2], ids[1]]
    assert await listed(client, me.inbox_id, labels=["needs-review"]) == [ids[0]]
    # The thread's labels follow its message.
    threads = await client.inboxes.threads.list(inbox_id=me.inbox_id, labels=["needs-review"])
    assert [t.thread_id for t in threads.threads] == [message.thread_id]
    assert "unread" not in threads.threads[0].labels
    # Adding a label twice, or removing one that is absent, changes nothing.
    again = await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=ids[0], add_labels="needs-review", remove_labels="not-there"
    )
    assert again.labels == result.labels
    # Remove wins when a label is in both.
    both = await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=ids[0], add_labels=["x"], remove_labels=["x", "follow up"]
    )
    assert both.labels == ["needs-review", "received"]
    # Re-marking unread.
    unread = await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=ids[0], add_labels="unread"
    )
    assert "unread" in unread.labels


@pytest.mark.parametrize("label", ["sent", "received", "delivered", "bounced", "complained", "delayed", "rejected",
                                   "opened", "SENT"])  # fmt: skip
async def test_system_labels_are_refused(client: AsyncAgentInbox, clock: ManualClock, label: str) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[0], add_labels=[label])
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.update(inbox_id=me.inbox_id, message_id=ids[0], remove_labels=label)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.update(
            inbox_id=me.inbox_id, message_id=ids[0], add_labels=["ok"], remove_labels=[label]
        )
    assert (await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=ids[0])).labels == [
        "received",
        "unread",
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"add_labels": []}, {"add_labels": [""]}, {"add_labels": ["a\nb"]}, {"add_labels": [3]},
     {"add_labels": ["x" * 257]}],
)  # fmt: skip
async def test_update_bad_labels(client: AsyncAgentInbox, clock: ManualClock, kwargs: dict[str, Any]) -> None:
    box = await mailbox(client, clock)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.update(inbox_id=box["me"].inbox_id, message_id=box["ids"][0], **kwargs)


async def test_update_unknown_message(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.update(
            inbox_id=box["me"].inbox_id, message_id="<ghost@agents.test>", add_labels=["x"]
        )


async def test_delete_message(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, other = await inboxes(client, "me", "other")
    first = await client.inboxes.messages.send(
        inbox_id=other.inbox_id, to=[me.inbox_id], subject="Q", text="1"
    )
    clock.advance(10)
    copy = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=first.message_id)
    await client.inboxes.messages.reply(inbox_id=me.inbox_id, message_id=copy.message_id, text="answer")
    clock.advance(10)
    thread = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=copy.thread_id)
    assert thread.message_count == 2
    second = thread.messages[-1]

    await client.inboxes.messages.delete(inbox_id=me.inbox_id, message_id=second.message_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=second.message_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.delete(inbox_id=me.inbox_id, message_id=second.message_id)
    thread = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=copy.thread_id)
    assert thread.message_count == 1
    assert thread.last_message_id == copy.message_id
    assert "sent" not in thread.labels
    # The other inbox's copy is untouched.
    assert (
        await client.inboxes.messages.get(inbox_id=other.inbox_id, message_id=second.message_id)
    ).message_id

    # Deleting the last message removes the thread.
    await client.inboxes.messages.delete(inbox_id=me.inbox_id, message_id=copy.message_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=copy.thread_id)
    assert await listed(client, me.inbox_id) == []
    assert (await client.inboxes.threads.list(inbox_id=me.inbox_id, labels=["sent"])).count == 0
    # New mail after a delete is stored and searchable normally.
    clock.advance(10)
    later = await client.inboxes.messages.send(
        inbox_id=other.inbox_id, to=[me.inbox_id], subject="Later", text="xyz"
    )
    assert await listed(client, me.inbox_id) == [later.message_id]
    found = await client.inboxes.messages.search(inbox_id=me.inbox_id, q="xyz")
    assert [m.message_id for m in found.messages] == [later.message_id]


async def test_delete_message_of_other_inbox(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.delete(inbox_id=box["bob"].inbox_id, message_id=box["ids"][0])
    assert await listed(client, box["me"].inbox_id, ascending=True) == box["ids"]


# -- batch get and update ------------------------------------------------------------------------------------------


async def test_batch_get(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    wanted = [ids[2], "<unknown@agents.test>", ids[0], ids[1]]
    result = await client.inboxes.messages.batch_get(inbox_id=me.inbox_id, message_ids=wanted)
    assert [m.message_id for m in result.messages] == [ids[2], ids[0], ids[1]]
    assert result.count == 3 and result.limit == 500
    for message in result.messages:
        assert message.text is None and message.html is None and message.extracted_text is None
        assert message.subject
    # Another inbox's messages are left out like unknown ones (bob only sent ids[1] and was cc'd on ids[2]).
    only_own = await client.inboxes.messages.batch_get(inbox_id=box["bob"].inbox_id, message_ids=ids)
    assert [m.message_id for m in only_own.messages] == [ids[1], ids[2]]
    assert [m.inbox_id for m in only_own.messages] == [box["bob"].inbox_id] * 2
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.batch_get(inbox_id="ghost@agents.test", message_ids=[ids[0]])


@pytest.mark.parametrize(
    "message_ids",
    [[], ["<a@x>", "<a@x>"], [f"<{i}@x>" for i in range(501)], "<a@x>", ["<a@x>", ""], ["<a@x>", 3], None],
)
async def test_batch_get_invalid(client: AsyncAgentInbox, message_ids: Any) -> None:
    me = await client.inboxes.create(username="me")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.batch_get(inbox_id=me.inbox_id, message_ids=message_ids)


async def test_batch_get_at_the_limit(client: AsyncAgentInbox) -> None:
    me = await client.inboxes.create(username="me")
    result = await client.inboxes.messages.batch_get(
        inbox_id=me.inbox_id, message_ids=[f"<{i}@x>" for i in range(500)]
    )
    assert result.count == 0 and result.messages == []


async def test_batch_update(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    result = await client.inboxes.messages.batch_update(
        inbox_id=me.inbox_id, message_ids=[ids[0], ids[2]], add_labels="Done", remove_labels=["unread"]
    )
    assert result.count == 2 and result.limit == 50
    assert [u.message_id for u in result.updates] == [ids[0], ids[2]]
    assert all(u.labels == ["done", "received"] for u in result.updates)
    assert await listed(client, me.inbox_id, labels=["done"]) == [ids[2], ids[0]]
    assert await listed(client, me.inbox_id, labels=["unread"]) == [ids[1]]


async def test_batch_update_is_atomic(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    with pytest.raises((NotFoundError, ValidationError)) as info:
        await client.inboxes.messages.batch_update(
            inbox_id=me.inbox_id, message_ids=[ids[0], "<ghost@agents.test>"], add_labels=["x"]
        )
    assert info.value.code in ("not_found", "validation_error") and info.value.message
    assert await listed(client, me.inbox_id, labels=["x"]) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message_ids": [f"<{i}@x>" for i in range(51)], "add_labels": ["x"]},
        {"message_ids": ["<a@x>", "<a@x>"], "add_labels": ["x"]},
        {"message_ids": [], "add_labels": ["x"]},
        {"message_ids": ["<a@x>"]},
        {"message_ids": ["<a@x>"], "add_labels": ["sent"]},
        {"message_ids": ["<a@x>"], "remove_labels": ["received"]},
    ],
)
async def test_batch_update_invalid(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    me = await client.inboxes.create(username="me")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.batch_update(inbox_id=me.inbox_id, **kwargs)


# -- raw and attachments -------------------------------------------------------------------------------------------


async def test_get_raw_parses(client: AsyncAgentInbox, clock: ManualClock) -> None:
    box = await mailbox(client, clock)
    me, ids = box["me"], box["ids"]
    raw = await client.inboxes.messages.get_raw(inbox_id=me.inbox_id, message_id=ids[2])
    assert isinstance(raw.content, bytes)
    assert raw.message_id == ids[2] and raw.size == len(raw.content)
    parsed = email.message_from_bytes(raw.content, policy=email.policy.default)
    assert parsed["Message-ID"] == ids[2]
    assert parsed["Subject"] == "Invoice 2"
    assert box["alice"].inbox_id in parsed["From"]
    assert box["bob"].inbox_id in parsed["Cc"]
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "Second invoice"
    # The sender's copy is the same bytes.
    own = await client.inboxes.messages.get_raw(inbox_id=box["alice"].inbox_id, message_id=ids[2])
    assert own.content == raw.content
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get_raw(inbox_id=me.inbox_id, message_id="<ghost@agents.test>")


async def test_attachments_base64_and_bytes(client: AsyncAgentInbox) -> None:
    me, other = await inboxes(client, "me", "other")
    pdf = b"%PDF-1.4 not really a pdf\x00\xff\x10"
    csv = b"name,qty\nwidget,3\n"
    sent = await client.inboxes.messages.send(
        inbox_id=other.inbox_id,
        to=me.inbox_id,
        subject="Files",
        text="Two files",
        attachments=[
            {"filename": "report.pdf", "content": base64.b64encode(pdf).decode()},
            {"filename": "data.csv", "content": csv, "content_type": "text/csv; charset=utf-8"},
        ],
    )
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert message.attachments is not None
    by_name = {a.filename: a for a in message.attachments}
    assert set(by_name) == {"report.pdf", "data.csv"}
    assert by_name["report.pdf"].content_type == "application/pdf"
    assert by_name["report.pdf"].size == len(pdf)
    assert by_name["data.csv"].content_type == "text/csv"
    assert by_name["report.pdf"].content_disposition == "attachment"
    for name, content in (("report.pdf", pdf), ("data.csv", csv)):
        got = await client.inboxes.messages.get_attachment(
            inbox_id=me.inbox_id, message_id=message.message_id, attachment_id=by_name[name].attachment_id
        )
        assert got.content == content
        assert got.filename == name and got.size == len(content)
    # The list item carries the attachment metadata too.
    item = (await client.inboxes.messages.list(inbox_id=me.inbox_id)).messages[0]
    assert item.attachments and {a.filename for a in item.attachments} == {"report.pdf", "data.csv"}
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get_attachment(
            inbox_id=me.inbox_id, message_id=message.message_id, attachment_id="att_nope"
        )
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.get_attachment(
            inbox_id=me.inbox_id,
            message_id="<ghost@agents.test>",
            attachment_id=by_name["data.csv"].attachment_id,
        )


@pytest.mark.parametrize(
    "attachment",
    [
        {"filename": "x.bin", "content": "not base64!!"},
        {"filename": "x.bin", "content": "data:application/pdf;base64,AAAA"},
        {"filename": "x.bin", "content": "QUJD"[:3]},  # missing padding
        {"filename": "x.bin"},
        {"filename": "x.bin", "content": "QUJD", "url": "https://example.com/x"},
        {"filename": "x.bin", "content": 12},
        {"filename": "../etc/passwd", "content": "QUJD"},
        {"filename": "x.bin", "content": "QUJD", "content_type": "nonsense"},
        {"filename": "x.bin", "content": "QUJD", "content_disposition": "sideways"},
    ],
)
async def test_attachment_validation(client: AsyncAgentInbox, attachment: dict[str, Any]) -> None:
    me, other = await inboxes(client, "me", "other")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.send(
            inbox_id=other.inbox_id, to=[me.inbox_id], text="x", attachments=[attachment]
        )
    assert await listed(client, me.inbox_id) == []


async def test_inline_cid_image(client: AsyncAgentInbox) -> None:
    me, other = await inboxes(client, "me", "other")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    sent = await client.inboxes.messages.send(
        inbox_id=other.inbox_id,
        to=[me.inbox_id],
        subject="Logo",
        text="See the logo",
        html='<p>See the logo</p><img src="cid:logo123">',
        attachments=[{"filename": "logo.png", "content": png, "content_id": "<logo123>"}],
    )
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert message.html and "cid:logo123" in message.html
    assert message.attachments and len(message.attachments) == 1
    logo = message.attachments[0]
    assert logo.content_id == "logo123"
    assert logo.content_disposition == "inline"
    assert logo.content_type == "image/png"
    got = await client.inboxes.messages.get_attachment(
        inbox_id=me.inbox_id, message_id=message.message_id, attachment_id=logo.attachment_id
    )
    assert got.content == png
    raw = await client.inboxes.messages.get_raw(inbox_id=me.inbox_id, message_id=message.message_id)
    assert b"multipart/related" in raw.content
    assert b"Content-ID: <logo123>" in raw.content


# -- sending: headers, recipients, sizes, delivery -----------------------------------------------------------------


async def test_custom_headers_arrive(client: AsyncAgentInbox) -> None:
    me, other = await inboxes(client, "me", "other")
    sent = await client.inboxes.messages.send(
        inbox_id=other.inbox_id,
        to=[me.inbox_id],
        subject="Headers",
        text="x",
        headers={"X-Ticket-Id": "T-42", "X-Agent": "planner ü"},
    )
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert header(message.headers, "X-Ticket-Id") == "T-42"
    assert header(message.headers, "X-Agent") == "planner ü"
    raw = await client.inboxes.messages.get_raw(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert b"X-Ticket-Id: T-42" in raw.content


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nX-Evil: 1"},
        {"subject": "Hello\rX"},
        {"subject": "nul\x00"},
        {"headers": {"X-Note": "a\r\nBcc: victim@example.com"}},
        {"headers": {"X-Note": "a\nb"}},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"From": "ceo@example.com"}},
        {"headers": {"to": "victim@example.com"}},
        {"headers": {"Subject": "other"}},
        {"headers": {"Message-ID": "<x@y>"}},
        {"headers": {"Content-Type": "text/html"}},
        {"headers": {"MIME-Version": "2.0"}},
        {"headers": {"Bad Name": "v"}},
        {"headers": {"X-A:": "v"}},
        {"headers": {"X-A": 5}},
        {"headers": {"X-A": "1", "x-a": "2"}},
        {"headers": ["X-A", "1"]},
        {"text": "nul \x00 in body"},
        {"subject": 5},
    ],
)
async def test_header_injection_and_bad_fields_are_refused(
    client: AsyncAgentInbox, kwargs: dict[str, Any]
) -> None:
    me, other = await inboxes(client, "me", "other")
    base: dict[str, Any] = {"subject": "Hi", "text": "Body"}
    with expect(ValidationError, "validation_error"):
        await client.inboxes.messages.send(inbox_id=other.inbox_id, to=[me.inbox_id], **{**base, **kwargs})
    assert await listed(client, me.inbox_id) == []
    assert (await client.inboxes.threads.list(inbox_id=other.inbox_id, labels=["sent"])).count == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("to", "not-an-address"),
        ("to", "a@"),
        ("to", "@example.com"),
        ("to", "a b@example.com"),
        ("to", "a@b@example.com"),
        ("to", "a@example..com"),
        ("to", "a@-example.com"),
        ("to", "Name <a@example.com"),
        ("to", "a@example.com, b@example.com"),
        ("to", "a@example.com\r\nBcc: c@example.com"),
        ("to", ["ok@example.com", 5]),
        ("to", ["ok@example.com", ""]),
        ("to", 42),
        ("cc", ["bad"]),
        ("bcc", "x@"),
        ("reply_to", "nope"),
    ],
)
async def test_invalid_recipients(client: AsyncAgentInbox, field: str, value: Any) -> None:
    me, other = await inboxes(client, "me", "other")
    kwargs: dict[str, Any] = {"to": [me.inbox_id], field: value}
    with expect(ValidationError, "validation_error") as info:
        await client.inboxes.messages.send(inbox_id=other.inbox_id, subject="x", text="x", **kwargs)
    assert info.value.errors[0]["path"][0] == field
    assert await listed(client, me.inbox_id) == []


@pytest.mark.parametrize("kwargs", [{}, {"to": []}, {"to": None, "cc": [], "bcc": []}])
async def test_no_recipients_is_unprocessable(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    me = await client.inboxes.create(username="me")
    with expect(UnprocessableError, "unprocessable"):
        await client.inboxes.messages.send(inbox_id=me.inbox_id, subject="To nobody", text="x", **kwargs)
    assert (await client.inboxes.threads.list(inbox_id=me.inbox_id, labels=["sent"])).count == 0
    assert await listed(client, me.inbox_id) == []


async def test_send_from_unknown_inbox(client: AsyncAgentInbox) -> None:
    with expect(NotFoundError, "not_found"):
        await client.inboxes.messages.send(inbox_id="ghost@agents.test", to=["a@example.com"], text="x")


async def test_single_string_recipients_and_bcc(client: AsyncAgentInbox) -> None:
    me, other, hidden = await inboxes(client, "me", "other", "hidden")
    sent = await client.inboxes.messages.send(
        inbox_id=other.inbox_id, to=f"Me Myself <{me.inbox_id}>", bcc=hidden.inbox_id, subject="S", text="x"
    )
    got = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert got.to == [f"Me Myself <{me.inbox_id}>"]
    assert not got.bcc  # bcc is never written into the message
    raw = await client.inboxes.messages.get_raw(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert hidden.inbox_id.encode() not in raw.content
    # The bcc recipient still gets a copy, and the sender's copy remembers the bcc.
    assert await listed(client, hidden.inbox_id) == [sent.message_id]
    own = await client.inboxes.messages.get(inbox_id=other.inbox_id, message_id=sent.message_id)
    assert own.bcc and hidden.inbox_id in own.bcc[0]


async def test_oversized_message_is_rejected(database_url: str, clock: ManualClock) -> None:
    async with AsyncAgentInbox(
        database_url=database_url, default_domain="agents.test", max_message_size=2000, clock=clock
    ) as small:
        me = await small.inboxes.create(username="me")
        other = await small.inboxes.create(username="other")
        ok = await small.inboxes.messages.send(
            inbox_id=other.inbox_id, to=[me.inbox_id], subject="s", text="short"
        )
        with expect(MessageRejectedError, "message_rejected") as info:
            await small.inboxes.messages.send(
                inbox_id=other.inbox_id, to=[me.inbox_id], subject="big", text="x" * 5000
            )
        assert "2000" in info.value.message
        with expect(MessageRejectedError, "message_rejected"):
            await small.inboxes.messages.send(
                inbox_id=other.inbox_id,
                to=[me.inbox_id],
                subject="big attachment",
                text="small",
                attachments=[{"filename": "a.bin", "content": bytes(3000)}],
            )
        assert await listed(small, me.inbox_id) == [ok.message_id]
        sent = await small.inboxes.threads.list(inbox_id=other.inbox_id, labels=["sent"])
        assert sent.count == 1


async def test_remote_delivery_stays_pending_local_is_delivered(
    client: AsyncAgentInbox, clock: ManualClock
) -> None:
    me, other = await inboxes(client, "me", "other")
    local = await client.inboxes.messages.send(
        inbox_id=me.inbox_id, to=[other.inbox_id], subject="L", text="x"
    )
    clock.advance(1)
    remote = await client.inboxes.messages.send(
        inbox_id=me.inbox_id, to=["someone@example.com"], subject="R", text="x", labels=["Outreach"]
    )
    clock.advance(1)
    mixed = await client.inboxes.messages.send(
        inbox_id=me.inbox_id, to=[other.inbox_id], cc=["someone@example.com"], subject="M", text="x"
    )
    get = client.inboxes.messages.get
    assert (await get(inbox_id=me.inbox_id, message_id=local.message_id)).labels == ["delivered", "sent"]
    assert (await get(inbox_id=me.inbox_id, message_id=remote.message_id)).labels == ["outreach", "sent"]
    mixed_labels = (await get(inbox_id=me.inbox_id, message_id=mixed.message_id)).labels
    assert "sent" in mixed_labels and "delivered" not in mixed_labels
    # The local recipient has its copy of the mixed message right away.
    assert (await get(inbox_id=other.inbox_id, message_id=mixed.message_id)).labels == ["received", "unread"]
    assert await listed(client, me.inbox_id, labels=["delivered"]) == [local.message_id]
    assert await listed(client, me.inbox_id, labels=["sent"]) == [
        mixed.message_id,
        remote.message_id,
        local.message_id,
    ]


async def test_recipient_filter_matches_non_ascii_and_quoted_names(
    client: AsyncAgentInbox, clock: ManualClock
) -> None:
    me, other = await inboxes(client, "me", "other")
    sent = await client.inboxes.messages.send(
        inbox_id=other.inbox_id, to=[f"Jürgen Müller <{me.inbox_id}>"], cc=['"Doe, Jane" <jane@example.com>'],
        subject="Grüße", text="x",
    )  # fmt: skip
    clock.advance(1)
    await client.inboxes.messages.send(inbox_id=other.inbox_id, to=[me.inbox_id], subject="plain", text="y")
    assert await listed(client, me.inbox_id, to="müller") == [sent.message_id]
    assert await listed(client, me.inbox_id, to="Jürgen Müller") == [sent.message_id]
    assert await listed(client, me.inbox_id, to="Doe, Jane") == [sent.message_id]
    assert await listed(client, me.inbox_id, subject="grüße") == [sent.message_id]
