"""client.inboxes.drafts (create, list, get, update, delete, send), reply and forward drafts, scheduling, org scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AsyncAgentInbox,
    Draft,
    NotFoundError,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock, to_datetime


async def pair(client: AsyncAgentInbox) -> tuple[Any, Any]:
    return await client.inboxes.create(username="me"), await client.inboxes.create(username="you")


async def received(client: AsyncAgentInbox, clock: ManualClock, me: Any, you: Any, **kwargs: Any) -> Any:
    """A message ``you`` sends to ``me``, as stored in ``me``'s inbox."""
    args: dict[str, Any] = {"to": [me.inbox_id], "subject": "Question", "text": "How are you?"} | kwargs
    sent = await client.inboxes.messages.send(inbox_id=you.inbox_id, **args)
    clock.advance(60)
    return await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)


# -- plain drafts -------------------------------------------------------------------------------------------------


async def test_create_get_list_delete(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id,
        to=[you.inbox_id],
        cc=["Carol <carol@example.com>"],
        bcc=["dave@example.com"],
        reply_to=["replies@example.com"],
        subject="Plan",
        text="The   plan\nis simple.",
        html="<p>The plan</p>",
        labels=["Work", "work"],
    )
    assert isinstance(draft, Draft)
    assert draft.inbox_id == me.inbox_id
    assert draft.to == [you.inbox_id]
    assert draft.cc == ["Carol <carol@example.com>"]
    assert draft.bcc == ["dave@example.com"]
    assert draft.reply_to == ["replies@example.com"]
    assert (
        draft.subject == "Plan" and draft.text == "The   plan\nis simple." and draft.html == "<p>The plan</p>"
    )
    assert draft.labels == ["work"]
    assert draft.preview == "The plan is simple."
    assert draft.send_status is None and draft.send_at is None
    assert draft.in_reply_to is None and draft.forward_of is None
    assert draft.created_at == draft.updated_at == to_datetime(clock.now())

    got = await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert got == draft
    assert (await client.drafts.get(draft_id=draft.draft_id)) == draft
    listed = await client.inboxes.drafts.list(inbox_id=me.inbox_id)
    assert listed.count == 1 and listed.drafts[0].draft_id == draft.draft_id
    assert listed.drafts[0].subject == "Plan"
    assert (await client.inboxes.drafts.list(inbox_id=you.inbox_id)).count == 0

    await client.inboxes.drafts.delete(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.delete(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.drafts.get(draft_id=draft.draft_id)
    assert (await client.inboxes.drafts.list(inbox_id=me.inbox_id)).count == 0


async def test_empty_draft_and_scope(client: AsyncAgentInbox) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id)
    assert draft.to is None and draft.subject is None and draft.labels == []
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.get(inbox_id=you.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.update(inbox_id=you.inbox_id, draft_id=draft.draft_id, subject="x")
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.delete(inbox_id=you.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.send(inbox_id=you.inbox_id, draft_id=draft.draft_id)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.create(inbox_id="ghost@agents.test", subject="x")
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.list(inbox_id="ghost@agents.test")
    # Sending a draft with no recipients is unprocessable, and the draft stays.
    with expect(UnprocessableError, "unprocessable"):
        await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert (
        await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    ).draft_id == draft.draft_id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": ["not an address"]},
        {"cc": ["x@"]},
        {"subject": "a\r\nBcc: x@example.com"},
        {"labels": ["sent"]},
        {"labels": [""]},
        {"attachments": [{"filename": "x", "content": "!!"}]},
        {"send_at": "tomorrow"},
        {"reply_all": "yes"},
        {"reply_all": True},  # needs in_reply_to
        {"in_reply_to": ""},
    ],
)
async def test_create_invalid(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    me, _ = await pair(client)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.create(inbox_id=me.inbox_id, **kwargs)
    assert (await client.inboxes.drafts.list(inbox_id=me.inbox_id)).count == 0


async def test_create_is_idempotent_on_client_id(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    first = await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject="One", client_id="d-1")
    clock.advance(5)
    again = await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject="Two", client_id="d-1")
    assert again == first and again.client_id == "d-1" and again.subject == "One"
    assert (await client.inboxes.drafts.list(inbox_id=me.inbox_id)).count == 1
    other = await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject="Three", client_id="d-2")
    assert other.draft_id != first.draft_id
    # client_id is per inbox.
    elsewhere = await client.inboxes.drafts.create(inbox_id=you.inbox_id, subject="Four", client_id="d-1")
    assert elsewhere.draft_id != first.draft_id and elsewhere.inbox_id == you.inbox_id


async def test_update_semantics(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], cc=["c@example.com"], subject="S", text="T", html="<p>T</p>",
        labels=["keep"],
    )  # fmt: skip
    clock.advance(10)
    changed = await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, subject="S2")
    assert changed.subject == "S2"
    # Omitted fields stay as they were.
    assert (
        changed.to == draft.to
        and changed.cc == draft.cc
        and changed.text == "T"
        and changed.html == "<p>T</p>"
    )
    assert changed.labels == ["keep"]
    assert changed.updated_at > draft.updated_at and changed.created_at == draft.created_at

    # None clears; [] clears recipients too.
    cleared = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, cc=None, html=None, to=[]
    )
    assert not cleared.cc and cleared.html is None and not cleared.to
    assert cleared.subject == "S2" and cleared.text == "T"
    relabeled = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, add_labels=["New"], remove_labels=["keep"],
        to=[f"You <{you.inbox_id}>"],
    )  # fmt: skip
    assert relabeled.labels == ["new"]
    assert relabeled.to == [f"You <{you.inbox_id}>"]
    assert (await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)) == relabeled


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"to": ["bad"]},
        {"subject": "x\ny"},
        {"add_labels": ["received"]},
        {"remove_labels": ["sent"]},
        {"remove_attachments": ["att_unknown"]},
        {"send_at": 12},
    ],
)
async def test_update_invalid(client: AsyncAgentInbox, kwargs: dict[str, Any]) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id], subject="S")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, **kwargs)
    assert (await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)) == draft


async def test_update_unknown_draft(client: AsyncAgentInbox) -> None:
    me, _ = await pair(client)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id="nope", subject="x")


async def test_list_order_and_pages(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, _ = await pair(client)
    ids = []
    for i in range(7):
        ids.append((await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject=f"d{i}")).draft_id)
        clock.advance(1)
    listed = await client.inboxes.drafts.list(inbox_id=me.inbox_id)
    assert [d.draft_id for d in listed.drafts] == list(reversed(ids))
    # An update moves a draft to the front (most recently updated first).
    await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=ids[0], subject="touched")
    clock.advance(1)
    order = [ids[0], *reversed(ids[1:])]
    assert [d.draft_id for d in (await client.inboxes.drafts.list(inbox_id=me.inbox_id)).drafts] == order
    for ascending, expected in ((False, order), (True, list(reversed(order)))):
        seen: list[str] = []
        token = None
        while True:
            page = await client.inboxes.drafts.list(
                inbox_id=me.inbox_id, limit=3, page_token=token, ascending=ascending
            )
            assert page.count == len(page.drafts) <= 3
            seen += [d.draft_id for d in page.drafts]
            token = page.next_page_token
            if token is None:
                break
        assert seen == expected
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.list(inbox_id=me.inbox_id, page_token="bogus")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.list(inbox_id=me.inbox_id, limit=0)


async def test_list_label_filter(client: AsyncAgentInbox) -> None:
    me, _ = await pair(client)
    a = await client.inboxes.drafts.create(inbox_id=me.inbox_id, labels=["alpha", "beta"])
    b = await client.inboxes.drafts.create(inbox_id=me.inbox_id, labels=["alpha"])
    await client.inboxes.drafts.create(inbox_id=me.inbox_id, labels=["alphabet"])
    ids = lambda page: sorted(d.draft_id for d in page.drafts)  # noqa: E731
    assert ids(await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["alpha"])) == sorted(
        [a.draft_id, b.draft_id]
    )
    assert ids(await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["ALPHA", "beta"])) == [
        a.draft_id
    ]
    assert ids(await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["alp"])) == []


async def test_org_wide_drafts(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    mine = await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject="mine")
    clock.advance(1)
    yours = await client.inboxes.drafts.create(inbox_id=you.inbox_id, subject="yours")
    listed = await client.drafts.list()
    assert [d.draft_id for d in listed.drafts] == [yours.draft_id, mine.draft_id]
    assert [d.inbox_id for d in listed.drafts] == [you.inbox_id, me.inbox_id]
    first = await client.drafts.list(limit=1)
    rest = await client.drafts.list(limit=1, page_token=first.next_page_token)
    assert [d.draft_id for d in rest.drafts] == [mine.draft_id] and rest.next_page_token is None
    assert (await client.drafts.get(draft_id=yours.draft_id)).subject == "yours"
    with expect(NotFoundError, "not_found"):
        await client.drafts.get(draft_id="missing")
    # A token of the inbox-scoped list is not valid for the org-wide one.
    for i in range(2):
        await client.inboxes.drafts.create(inbox_id=me.inbox_id, subject=f"more {i}")
    inbox_token = (await client.inboxes.drafts.list(inbox_id=me.inbox_id, limit=1)).next_page_token
    with expect(ValidationError, "validation_error"):
        await client.drafts.list(page_token=inbox_token)


# -- sending ----------------------------------------------------------------------------------------------------------


async def test_send_plain_draft(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Hello", text="Hi there", labels=["outbox"],
        attachments=[{"filename": "a.txt", "content": b"attached"}],
    )  # fmt: skip
    clock.advance(30)
    sent = await client.inboxes.drafts.send(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, add_labels=["Campaign"], remove_labels="outbox"
    )
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert (await client.drafts.list()).count == 0
    own = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert own.thread_id == sent.thread_id
    assert own.labels == ["campaign", "delivered", "sent"]
    assert own.subject == "Hello"
    assert own.timestamp == to_datetime(clock.now())
    copy = await client.inboxes.messages.get(inbox_id=you.inbox_id, message_id=sent.message_id)
    assert copy.text and copy.text.strip() == "Hi there"
    assert copy.attachments and copy.attachments[0].filename == "a.txt"
    content = await client.inboxes.messages.get_attachment(
        inbox_id=you.inbox_id, message_id=copy.message_id, attachment_id=copy.attachments[0].attachment_id
    )
    assert content.content == b"attached"
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert (await client.inboxes.messages.list(inbox_id=you.inbox_id)).count == 1


async def test_send_draft_with_bad_labels(client: AsyncAgentInbox) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(inbox_id=me.inbox_id, to=[you.inbox_id], text="x")
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id, add_labels=["sent"])
    assert (await client.inboxes.drafts.get(inbox_id=me.inbox_id, draft_id=draft.draft_id)).draft_id
    assert (await client.inboxes.messages.list(inbox_id=you.inbox_id)).count == 0


async def test_reply_draft(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(client, clock, me, you, cc=["other@example.com"])
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, in_reply_to=original.message_id, text="Fine!"
    )
    assert draft.in_reply_to == original.message_id
    assert draft.subject == "Re: Question"
    assert draft.to and you.inbox_id in draft.to[0] and not draft.cc
    assert draft.references and draft.references[-1] == original.message_id
    sent = await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert sent.thread_id == original.thread_id
    copy = await client.inboxes.messages.get(inbox_id=you.inbox_id, message_id=sent.message_id)
    assert copy.subject == "Re: Question"
    assert copy.in_reply_to == original.message_id
    assert copy.extracted_text and copy.extracted_text.strip() == "Fine!"
    thread = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=original.thread_id)
    assert thread.message_count == 2


async def test_reply_all_draft(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(client, clock, me, you, cc=["other@example.com"])
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, in_reply_to=original.message_id, reply_all=True, text="All"
    )
    everyone = [*(draft.to or []), *(draft.cc or [])]
    assert any(you.inbox_id in x for x in everyone)
    assert any("other@example.com" in x for x in everyone)
    assert not any(me.inbox_id in x for x in everyone)
    for field in ("to", "cc", "bcc"):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.drafts.create(
                inbox_id=me.inbox_id,
                in_reply_to=original.message_id,
                reply_all=True,
                **{field: ["z@example.com"]},
            )


async def test_reply_draft_with_explicit_recipients(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(client, clock, me, you)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, in_reply_to=original.message_id, to=["someone@example.com"], subject="ignored"
    )
    assert draft.to == ["someone@example.com"]
    assert draft.subject == "Re: Question"


async def test_forward_draft_carries_attachments(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(
        client, clock, me, you, subject="Report", text="See attached",
        attachments=[{"filename": "r.csv", "content": b"a,b\n"}],
    )  # fmt: skip
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, forward_of=original.message_id, to=["boss@example.com"], text="FYI"
    )
    assert draft.forward_of == original.message_id
    assert draft.subject == "Fwd: Report"
    assert draft.to == ["boss@example.com"]
    assert not draft.attachments  # merged in at send time
    sent = await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert sent.thread_id != original.thread_id
    mine = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert mine.subject == "Fwd: Report"
    assert mine.text and mine.text.startswith("FYI") and "See attached" in mine.text
    assert mine.attachments and [a.filename for a in mine.attachments] == ["r.csv"]
    got = await client.inboxes.messages.get_attachment(
        inbox_id=me.inbox_id, message_id=mine.message_id, attachment_id=mine.attachments[0].attachment_id
    )
    assert got.content == b"a,b\n"
    assert "delivered" not in mine.labels  # boss@example.com is remote


async def test_forward_draft_keeps_own_subject(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(client, clock, me, you)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, forward_of=original.message_id, subject="Look at this", to=["x@example.com"]
    )
    assert draft.subject == "Look at this"


async def test_reply_and_forward_are_exclusive(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    third = await client.inboxes.create(username="third")
    original = await received(client, clock, me, you)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.drafts.create(
            inbox_id=me.inbox_id, in_reply_to=original.message_id, forward_of=original.message_id
        )
    for field in ("in_reply_to", "forward_of"):
        with expect(NotFoundError, "not_found"):
            await client.inboxes.drafts.create(inbox_id=me.inbox_id, **{field: "<ghost@agents.test>"})
        # A message of another inbox (which holds no copy of it) is not found either.
        with expect(NotFoundError, "not_found"):
            await client.inboxes.drafts.create(inbox_id=third.inbox_id, **{field: original.message_id})
    assert (await client.drafts.list()).count == 0


# -- scheduling ---------------------------------------------------------------------------------------------------


async def test_schedule_and_unschedule(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    when = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Later", text="x", send_at=when, labels=["mine"]
    )
    assert draft.send_at == when
    assert draft.send_status == "scheduled"
    assert draft.labels == ["mine", "scheduled"]
    scheduled = await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["scheduled"])
    assert [d.draft_id for d in scheduled.drafts] == [draft.draft_id]
    assert scheduled.drafts[0].send_status == "scheduled" and scheduled.drafts[0].send_at == when

    # Rescheduling keeps one scheduled label.
    later = when + timedelta(days=1)
    moved = await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=later)
    assert (
        moved.send_at == later and moved.labels == ["mine", "scheduled"] and moved.send_status == "scheduled"
    )
    # Other changes leave the schedule alone.
    edited = await client.inboxes.drafts.update(inbox_id=me.inbox_id, draft_id=draft.draft_id, text="y")
    assert edited.send_at == later and edited.send_status == "scheduled" and "scheduled" in edited.labels

    unscheduled = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=None
    )
    assert unscheduled.send_at is None
    assert unscheduled.send_status is None
    assert unscheduled.labels == ["mine"]
    assert (await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["scheduled"])).count == 0

    rescheduled = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, send_at=when
    )
    assert rescheduled.labels == ["mine", "scheduled"] and rescheduled.send_status == "scheduled"
    # Sending a scheduled draft now: the message does not carry the draft's "scheduled" label.
    sent = await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    message = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert message.labels == ["delivered", "mine", "sent"]


async def test_naive_send_at_is_utc(client: AsyncAgentInbox) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], send_at=datetime(2031, 5, 6, 7, 8, 9)
    )
    assert draft.send_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


# -- attachments ----------------------------------------------------------------------------------------------------


async def test_add_and_remove_attachments(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, to=[you.inbox_id], subject="Files", text="x",
        attachments=[
            {"filename": "one.txt", "content": b"one"},
            {"filename": "two.pdf", "content": "dHdv"},  # base64 of "two"
        ],
    )  # fmt: skip
    assert draft.attachments and [a.filename for a in draft.attachments] == ["one.txt", "two.pdf"]
    one, two = draft.attachments
    assert two.content_type == "application/pdf" and two.size == 3
    got = await client.inboxes.drafts.get_attachment(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, attachment_id=two.attachment_id
    )
    assert got.content == b"two"
    assert (
        await client.drafts.get_attachment(draft_id=draft.draft_id, attachment_id=one.attachment_id)
    ).content == b"one"

    removed = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, remove_attachments=[one.attachment_id]
    )
    assert removed.attachments and [a.filename for a in removed.attachments] == ["two.pdf"]
    with expect(NotFoundError, "not_found"):
        await client.inboxes.drafts.get_attachment(
            inbox_id=me.inbox_id, draft_id=draft.draft_id, attachment_id=one.attachment_id
        )

    added = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id,
        draft_id=draft.draft_id,
        add_attachments=[{"filename": "three.txt", "content": b"3"}],
    )
    assert added.attachments and [a.filename for a in added.attachments] == ["two.pdf", "three.txt"]
    # An attachment id, once given out, keeps naming the same attachment.
    assert added.attachments[0].attachment_id == two.attachment_id
    still_two = await client.inboxes.drafts.get_attachment(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, attachment_id=two.attachment_id
    )
    assert still_two.content == b"two"
    three = added.attachments[1]
    assert three.attachment_id != two.attachment_id

    sent = await client.inboxes.drafts.send(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    copy = await client.inboxes.messages.get(inbox_id=you.inbox_id, message_id=sent.message_id)
    assert copy.attachments and sorted(a.filename or "" for a in copy.attachments) == ["three.txt", "two.pdf"]


async def test_same_content_attachments_get_distinct_ids(client: AsyncAgentInbox) -> None:
    me, _ = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id,
        attachments=[{"filename": "a.txt", "content": b"same"}, {"filename": "b.txt", "content": b"same"}],
    )
    assert draft.attachments and len({a.attachment_id for a in draft.attachments}) == 2
    removed = await client.inboxes.drafts.update(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, remove_attachments=[draft.attachments[0].attachment_id]
    )
    assert removed.attachments and [a.filename for a in removed.attachments] == ["b.txt"]
    # The remaining attachment's bytes survive the removal of its identical twin.
    got = await client.inboxes.drafts.get_attachment(
        inbox_id=me.inbox_id, draft_id=draft.draft_id, attachment_id=removed.attachments[0].attachment_id
    )
    assert got.content == b"same"


async def test_deleting_draft_keeps_shared_blobs(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me, you = await pair(client)
    original = await received(
        client, clock, me, you, attachments=[{"filename": "r.bin", "content": b"shared-bytes"}]
    )
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id,
        to=[you.inbox_id],
        attachments=[{"filename": "r.bin", "content": b"shared-bytes"}],
    )
    await client.inboxes.drafts.delete(inbox_id=me.inbox_id, draft_id=draft.draft_id)
    assert original.attachments
    got = await client.inboxes.messages.get_attachment(
        inbox_id=me.inbox_id,
        message_id=original.message_id,
        attachment_id=original.attachments[0].attachment_id,
    )
    assert got.content == b"shared-bytes"


async def test_label_filter_with_non_ascii_labels(client: AsyncAgentInbox) -> None:
    me, _ = await pair(client)
    draft = await client.inboxes.drafts.create(
        inbox_id=me.inbox_id, labels=["Über-Wichtig", 'needs "quotes"']
    )
    assert draft.labels == ['needs "quotes"', "über-wichtig"]
    await client.inboxes.drafts.create(inbox_id=me.inbox_id, labels=["other"])
    found = await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=["über-wichtig"])
    assert [d.draft_id for d in found.drafts] == [draft.draft_id]
    quoted = await client.inboxes.drafts.list(inbox_id=me.inbox_id, labels=['needs "quotes"'])
    assert [d.draft_id for d in quoted.drafts] == [draft.draft_id]
