"""Threads at inbox, org and pod scope: list order and pages, visibility, labels, delete, paged get, attachments."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import expect

from agentinbox import (
    AsyncAgentInbox,
    NotFoundError,
    Thread,
    UnprocessableError,
    ValidationError,
)
from agentinbox._clock import ManualClock


async def conversation(
    client: AsyncAgentInbox, clock: ManualClock, a: Any, b: Any, n: int, *, subject: str = "Chat"
) -> dict[str, Any]:
    """``n`` messages alternating a → b, b → a, … in one thread, a minute apart."""
    first = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject=subject, text="msg 0"
    )
    ids = [first.message_id]
    for i in range(1, n):
        clock.advance(60)
        author = b if i % 2 else a
        reply = await client.inboxes.messages.reply(
            inbox_id=author.inbox_id, message_id=ids[-1], text=f"msg {i}"
        )
        ids.append(reply.message_id)
    clock.advance(60)
    b_copy = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=first.message_id)
    return {"ids": ids, "a_thread": first.thread_id, "b_thread": b_copy.thread_id}


async def thread_ids(client: AsyncAgentInbox, **kwargs: Any) -> list[str]:
    inbox_id = kwargs.pop("inbox_id", None)
    if inbox_id is None:
        page = await client.threads.list(**kwargs)
    else:
        page = await client.inboxes.threads.list(inbox_id=inbox_id, **kwargs)
    assert page.count == len(page.threads)
    return [t.thread_id for t in page.threads]


async def incoming(client: AsyncAgentInbox, clock: ManualClock, me: Any, other: Any, n: int) -> list[str]:
    """``n`` separate threads in ``me``: messages from ``other`` with distinct subjects, a minute apart."""
    result = []
    for i in range(n):
        sent = await client.inboxes.messages.send(
            inbox_id=other.inbox_id, to=[me.inbox_id], subject=f"Topic {i:02d}", text=f"body {i}"
        )
        copy = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
        result.append(copy.thread_id)
        clock.advance(60)
    return result


# -- list -----------------------------------------------------------------------------------------------------------


async def test_list_order_follows_latest_activity(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    threads = await incoming(client, clock, me, other, 3)
    assert await thread_ids(client, inbox_id=me.inbox_id) == list(reversed(threads))
    assert await thread_ids(client, inbox_id=me.inbox_id, ascending=True) == threads
    # Replying in the oldest thread brings it to the front.
    oldest = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=threads[0])
    await client.inboxes.messages.reply(
        inbox_id=me.inbox_id, message_id=oldest.messages[-1].message_id, text="up"
    )
    assert await thread_ids(client, inbox_id=me.inbox_id) == [threads[0], threads[2], threads[1]]
    item = (await client.inboxes.threads.list(inbox_id=me.inbox_id)).threads[0]
    assert item.message_count == 2
    assert item.subject == "Topic 00"
    assert set(item.labels) == {"received", "unread", "sent", "delivered"}
    assert item.received_timestamp is not None and item.sent_timestamp is not None
    assert item.sent_timestamp > item.received_timestamp
    assert item.timestamp == item.sent_timestamp
    assert any(other.inbox_id in s for s in item.senders) and any(me.inbox_id in s for s in item.senders)
    assert item.preview and item.preview.startswith("up")
    assert item.last_message_id != oldest.messages[-1].message_id


async def test_list_pages_without_gaps(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    threads = await incoming(client, clock, me, other, 12)
    for ascending, expected in ((False, list(reversed(threads))), (True, threads)):
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = await client.inboxes.threads.list(
                inbox_id=me.inbox_id, limit=5, page_token=token, ascending=ascending
            )
            assert page.count == len(page.threads) and page.limit == 5
            seen += [t.thread_id for t in page.threads]
            pages += 1
            token = page.next_page_token
            if token is None:
                break
        assert seen == expected and pages == 3


async def test_list_filters(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    alice = await client.inboxes.create(username="alice")
    bob = await client.inboxes.create(username="bob")
    t_alice = (await incoming(client, clock, me, alice, 1))[0]
    t_bob = (await incoming(client, clock, me, bob, 1))[0]
    sent = await client.inboxes.messages.send(
        inbox_id=alice.inbox_id, to=[me.inbox_id], cc=["carol@example.com"], subject="Budget", text="x"
    )
    t_budget = (await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)).thread_id
    first = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=t_alice)
    assert await thread_ids(client, inbox_id=me.inbox_id, senders="ALICE") == [t_budget, t_alice]
    assert await thread_ids(client, inbox_id=me.inbox_id, senders=["bob@"]) == [t_bob]
    assert await thread_ids(client, inbox_id=me.inbox_id, recipients=["carol"]) == [t_budget]
    assert await thread_ids(client, inbox_id=me.inbox_id, subject="topic") == [t_bob, t_alice]
    assert await thread_ids(client, inbox_id=me.inbox_id, subject=["topic", "budget"]) == []
    assert await thread_ids(client, inbox_id=me.inbox_id, after=first.timestamp) == [t_budget, t_bob, t_alice]
    assert await thread_ids(client, inbox_id=me.inbox_id, before=first.timestamp) == []
    bob_time = (await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=t_bob)).timestamp
    assert await thread_ids(client, inbox_id=me.inbox_id, before=bob_time) == [t_alice]
    assert await thread_ids(client, inbox_id=me.inbox_id, labels=["UNREAD", "received"]) == [
        t_budget,
        t_bob,
        t_alice,
    ]


async def test_sent_only_threads_need_the_sent_label(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    outgoing = await client.inboxes.messages.send(
        inbox_id=me.inbox_id, to=["x@example.com"], subject="Out", text="x"
    )
    clock.advance(60)
    local = await client.inboxes.messages.send(
        inbox_id=me.inbox_id, to=[other.inbox_id], subject="Local", text="y"
    )
    clock.advance(60)
    assert await thread_ids(client, inbox_id=me.inbox_id) == []
    assert await thread_ids(client, inbox_id=me.inbox_id, labels=["sent"]) == [
        local.thread_id,
        outgoing.thread_id,
    ]
    assert await thread_ids(client, inbox_id=me.inbox_id, labels=["sent", "delivered"]) == [local.thread_id]
    # Org-wide: only other's received thread, unless asked for sent ones.
    org = await client.threads.list()
    assert [t.inbox_id for t in org.threads] == [other.inbox_id]
    assert set(await thread_ids(client, labels=["sent"])) == {local.thread_id, outgoing.thread_id}
    # Once the thread receives a message, it is listed without the filter.
    copy = await client.inboxes.messages.get(inbox_id=other.inbox_id, message_id=local.message_id)
    await client.inboxes.messages.reply(inbox_id=other.inbox_id, message_id=copy.message_id, text="answer")
    assert await thread_ids(client, inbox_id=me.inbox_id) == [local.thread_id]


async def test_list_bad_arguments(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    await incoming(client, clock, me, other, 3)
    for kwargs in (
        {"limit": 0},
        {"page_token": "junk"},
        {"labels": [""]},
        {"include_trash": 1},
        {"before": "x"},
    ):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.threads.list(inbox_id=me.inbox_id, **kwargs)
    org_token = (await client.threads.list(limit=1)).next_page_token
    assert org_token
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.list(inbox_id=me.inbox_id, page_token=org_token)
    desc_token = (await client.inboxes.threads.list(inbox_id=me.inbox_id, limit=1)).next_page_token
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.list(inbox_id=me.inbox_id, page_token=desc_token, ascending=True)
    message_token = (await client.inboxes.messages.list(inbox_id=me.inbox_id, limit=1)).next_page_token
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.list(inbox_id=me.inbox_id, page_token=message_token)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.list(inbox_id="ghost@agents.test")


# -- labels ----------------------------------------------------------------------------------------------------------


async def test_update_labels_apply_to_every_message(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 4)
    result = await client.inboxes.threads.update(
        inbox_id=b.inbox_id, thread_id=chat["b_thread"], add_labels=["Important"], remove_labels=["unread"]
    )
    assert result.thread_id == chat["b_thread"]
    assert "important" in result.labels and "unread" not in result.labels
    thread = await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    assert thread.labels == result.labels
    for message in thread.messages:
        assert "important" in message.labels and "unread" not in message.labels
    # a's copies are untouched.
    a_thread = await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["a_thread"])
    assert all("important" not in m.labels for m in a_thread.messages)
    assert any("unread" in m.labels for m in a_thread.messages)
    assert await thread_ids(client, inbox_id=b.inbox_id, labels=["unread"]) == []
    assert await thread_ids(client, inbox_id=a.inbox_id, labels=["unread"]) == [chat["a_thread"]]


async def test_trash_hides_and_restores(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 3)
    other = (await incoming(client, clock, b, a, 1))[0]
    await client.inboxes.threads.update(inbox_id=b.inbox_id, thread_id=chat["b_thread"], add_labels=["trash"])
    assert await thread_ids(client, inbox_id=b.inbox_id) == [other]
    assert await thread_ids(client, inbox_id=b.inbox_id, include_trash=True) == [other, chat["b_thread"]]
    assert await thread_ids(client, inbox_id=b.inbox_id, labels=["trash"]) == [chat["b_thread"]]
    assert chat["b_thread"] not in await thread_ids(client)
    messages = await client.inboxes.messages.list(inbox_id=b.inbox_id)
    assert all(m.thread_id == other for m in messages.messages)
    search = await client.inboxes.threads.search(inbox_id=b.inbox_id, q="msg")
    assert search.count == 0
    # Still readable by id.
    trashed = await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    assert all("trash" in m.labels for m in trashed.messages)

    await client.inboxes.threads.update(
        inbox_id=b.inbox_id, thread_id=chat["b_thread"], remove_labels=["trash"]
    )
    assert await thread_ids(client, inbox_id=b.inbox_id) == [other, chat["b_thread"]]
    restored = await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    assert all("trash" not in m.labels for m in restored.messages)
    assert "trash" not in restored.labels


async def test_spam_on_one_message_hides_the_thread(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    [thread_id] = await incoming(client, clock, me, other, 1)
    message = (await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=thread_id)).messages[0]
    await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=message.message_id, add_labels=["spam"]
    )
    assert await thread_ids(client, inbox_id=me.inbox_id) == []
    assert await thread_ids(client, inbox_id=me.inbox_id, include_spam=True) == [thread_id]
    await client.inboxes.messages.update(
        inbox_id=me.inbox_id, message_id=message.message_id, remove_labels=["spam"]
    )
    assert await thread_ids(client, inbox_id=me.inbox_id) == [thread_id]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"add_labels": []},
        {"add_labels": ["sent"]},
        {"add_labels": ["Received"]},
        {"remove_labels": ["delivered"]},
        {"add_labels": ["ok"], "remove_labels": ["opened"]},
        {"add_labels": [""]},
    ],
)
async def test_update_invalid(client: AsyncAgentInbox, clock: ManualClock, kwargs: dict[str, Any]) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    [thread_id] = await incoming(client, clock, me, other, 1)
    before = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=thread_id)
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.update(inbox_id=me.inbox_id, thread_id=thread_id, **kwargs)
    after = await client.inboxes.threads.get(inbox_id=me.inbox_id, thread_id=thread_id)
    assert after.labels == before.labels


async def test_update_unknown_or_foreign_thread(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    [thread_id] = await incoming(client, clock, me, other, 1)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.update(inbox_id=me.inbox_id, thread_id="nope", add_labels=["x"])
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.update(inbox_id=other.inbox_id, thread_id=thread_id, add_labels=["x"])
    # The org scope reaches every inbox's threads.
    result = await client.threads.update(thread_id=thread_id, add_labels=["org-label"])
    assert "org-label" in result.labels


async def test_update_of_a_long_thread_is_unprocessable(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    other = await client.inboxes.create(username="other")
    first = await client.inboxes.messages.send(
        inbox_id=other.inbox_id, to=[me.inbox_id], subject="Long", text="0"
    )
    last = first.message_id
    for i in range(1, 100):
        clock.advance(1)
        last = (
            await client.inboxes.messages.reply(inbox_id=other.inbox_id, message_id=last, text=str(i))
        ).message_id
    thread = await client.inboxes.threads.get(inbox_id=other.inbox_id, thread_id=first.thread_id, limit=1)
    assert thread.message_count == 100
    with expect(UnprocessableError, "unprocessable"):
        await client.inboxes.threads.update(
            inbox_id=other.inbox_id, thread_id=first.thread_id, add_labels=["x"]
        )


# -- delete -----------------------------------------------------------------------------------------------------------


async def test_delete_thread(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 3)
    keep = (await incoming(client, clock, b, a, 1))[0]
    await client.inboxes.threads.delete(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    with expect(NotFoundError, "not_found"):
        await client.threads.get(thread_id=chat["b_thread"])
    for message_id in chat["ids"]:
        with expect(NotFoundError, "not_found"):
            await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=message_id)
        # a's copies are another inbox's messages and stay.
        assert (await client.inboxes.messages.get(inbox_id=a.inbox_id, message_id=message_id)).message_id
    assert await thread_ids(client, inbox_id=b.inbox_id, labels=["sent"], include_trash=True) == []
    assert await thread_ids(client, inbox_id=b.inbox_id) == [keep]
    assert (await client.inboxes.messages.list(inbox_id=b.inbox_id)).count == 1
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.delete(inbox_id=b.inbox_id, thread_id=chat["b_thread"])
    # A new message replying into the deleted conversation starts afresh in b and is stored normally.
    clock.advance(60)
    answer = await client.inboxes.messages.reply(
        inbox_id=a.inbox_id, message_id=chat["ids"][-1], text="still there?"
    )
    copy = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=answer.message_id)
    assert copy.thread_id != chat["b_thread"]
    assert (
        await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=copy.thread_id)
    ).message_count == 1


async def test_delete_thread_scopes(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 2)
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.delete(inbox_id=a.inbox_id, thread_id=chat["b_thread"])
    await client.threads.delete(thread_id=chat["b_thread"])
    with expect(NotFoundError, "not_found"):
        await client.threads.get(thread_id=chat["b_thread"])
    assert (await client.threads.get(thread_id=chat["a_thread"])).message_count == 2


# -- get --------------------------------------------------------------------------------------------------------------


async def test_get_pages_newest_first_ascending_inside(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 5)
    ids = chat["ids"]

    full = await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["a_thread"])
    assert isinstance(full, Thread)
    assert [m.message_id for m in full.messages] == ids
    assert full.count == 5 and full.message_count == 5 and full.next_page_token is None
    assert full.last_message_id == ids[-1]
    assert full.messages[0].text and full.messages[0].text.strip() == "msg 0"  # bodies are included

    page1 = await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["a_thread"], limit=2)
    assert [m.message_id for m in page1.messages] == ids[3:5]
    assert page1.count == 2 and page1.limit == 2 and page1.message_count == 5
    assert page1.next_page_token
    page2 = await client.inboxes.threads.get(
        inbox_id=a.inbox_id, thread_id=chat["a_thread"], limit=2, page_token=page1.next_page_token
    )
    assert [m.message_id for m in page2.messages] == ids[1:3]
    assert page2.next_page_token
    page3 = await client.inboxes.threads.get(
        inbox_id=a.inbox_id, thread_id=chat["a_thread"], limit=2, page_token=page2.next_page_token
    )
    assert [m.message_id for m in page3.messages] == ids[0:1]
    assert page3.count == 1 and page3.next_page_token is None

    exact = await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["a_thread"], limit=5)
    assert exact.count == 5 and exact.next_page_token is None


async def test_get_bad_arguments(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 3)
    for kwargs in ({"limit": 0}, {"page_token": "junk"}):
        with expect(ValidationError, "validation_error"):
            await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["a_thread"], **kwargs)
    other = await conversation(client, clock, a, b, 1, subject="Second")
    list_token = (
        await client.inboxes.threads.list(inbox_id=a.inbox_id, limit=1, labels=["sent"])
    ).next_page_token
    assert list_token and other
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.get(
            inbox_id=a.inbox_id, thread_id=chat["a_thread"], page_token=list_token
        )
    with expect(ValidationError, "validation_error"):
        await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id="")


async def test_get_scopes(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    chat = await conversation(client, clock, a, b, 2)
    assert chat["a_thread"] != chat["b_thread"]
    org = await client.threads.get(thread_id=chat["b_thread"])
    assert org.inbox_id == b.inbox_id and org.message_count == 2
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get(inbox_id=a.inbox_id, thread_id=chat["b_thread"])
    with expect(NotFoundError, "not_found"):
        await client.threads.get(thread_id="no-such-thread")
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get(inbox_id="ghost@agents.test", thread_id=chat["a_thread"])
    pod_id = a.pod_id
    via_pod = await client.pods.threads.get(pod_id=pod_id, thread_id=chat["a_thread"])
    assert via_pod.thread_id == chat["a_thread"]
    org_list = await client.threads.list()
    assert set(t.thread_id for t in org_list.threads) == {chat["a_thread"], chat["b_thread"]}


# -- attachments ------------------------------------------------------------------------------------------------------


async def test_thread_get_attachment(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    first = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Docs", text="first",
        attachments=[{"filename": "one.txt", "content": b"one"}],
    )  # fmt: skip
    clock.advance(60)
    reply = await client.inboxes.messages.reply(
        inbox_id=b.inbox_id, message_id=first.message_id, text="second",
        attachments=[{"filename": "two.txt", "content": b"two"}],
    )  # fmt: skip
    clock.advance(60)
    other = await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Unrelated", text="x",
        attachments=[{"filename": "three.txt", "content": b"three"}],
    )  # fmt: skip
    thread = await client.inboxes.threads.get(inbox_id=b.inbox_id, thread_id=reply.thread_id)
    attachments = {a.filename: a for m in thread.messages for a in (m.attachments or [])}
    assert set(attachments) == {"one.txt", "two.txt"}
    for name, content in (("one.txt", b"one"), ("two.txt", b"two")):
        got = await client.inboxes.threads.get_attachment(
            inbox_id=b.inbox_id, thread_id=reply.thread_id, attachment_id=attachments[name].attachment_id
        )
        assert got.content == content and got.filename == name
        org = await client.threads.get_attachment(
            thread_id=reply.thread_id, attachment_id=attachments[name].attachment_id
        )
        assert org.content == content
    pod = await client.pods.threads.get_attachment(
        pod_id=b.pod_id, thread_id=reply.thread_id, attachment_id=attachments["one.txt"].attachment_id
    )
    assert pod.content == b"one"
    # Another thread's attachment is not found through this thread.
    unrelated = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=other.message_id)
    assert unrelated.attachments
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get_attachment(
            inbox_id=b.inbox_id,
            thread_id=reply.thread_id,
            attachment_id=unrelated.attachments[0].attachment_id,
        )
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get_attachment(
            inbox_id=b.inbox_id, thread_id=reply.thread_id, attachment_id="att_missing"
        )
    with expect(NotFoundError, "not_found"):
        await client.inboxes.threads.get_attachment(
            inbox_id=a.inbox_id, thread_id=reply.thread_id, attachment_id=attachments["one.txt"].attachment_id
        )
    # The thread item lists no attachments it does not have.
    items = await client.inboxes.threads.list(inbox_id=b.inbox_id)
    assert {t.subject for t in items.threads} == {"Docs", "Unrelated"}


async def test_thread_item_attachments(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    await client.inboxes.messages.send(
        inbox_id=a.inbox_id, to=[b.inbox_id], subject="Docs", text="first",
        attachments=[{"filename": "one.txt", "content": b"one"}],
    )  # fmt: skip
    item = (await client.inboxes.threads.list(inbox_id=b.inbox_id)).threads[0]
    # ThreadItem.attachments (reference §4) lists the thread's attachments.
    assert item.attachments and [x.filename for x in item.attachments] == ["one.txt"]


async def test_participant_filters_match_non_ascii_names(client: AsyncAgentInbox, clock: ManualClock) -> None:
    me = await client.inboxes.create(username="me")
    zoe = await client.inboxes.create(username="zoe", display_name="Zoë Ågren")
    plain = await client.inboxes.create(username="plain")
    sent = await client.inboxes.messages.send(
        inbox_id=zoe.inbox_id, to=[f"Renée <{me.inbox_id}>"], subject="Hallo", text="x"
    )
    clock.advance(60)
    await client.inboxes.messages.send(inbox_id=plain.inbox_id, to=[me.inbox_id], subject="Other", text="y")
    copy = await client.inboxes.messages.get(inbox_id=me.inbox_id, message_id=sent.message_id)
    assert await thread_ids(client, inbox_id=me.inbox_id, senders="Zoë") == [copy.thread_id]
    assert await thread_ids(client, inbox_id=me.inbox_id, senders="ågren") == [copy.thread_id]
    assert await thread_ids(client, inbox_id=me.inbox_id, recipients="Renée") == [copy.thread_id]


async def test_a_message_label_change_updates_its_thread(client: AsyncAgentInbox, clock: ManualClock) -> None:
    alice = await client.inboxes.create(username="alice")
    bob = await client.inboxes.create(username="bob")
    sent = await client.inboxes.messages.send(
        inbox_id=alice.inbox_id, to=[bob.inbox_id], subject="Hi", text="x"
    )
    before = await client.threads.get(thread_id=sent.thread_id)
    clock.advance(60)
    await client.inboxes.messages.update(
        inbox_id=alice.inbox_id, message_id=sent.message_id, add_labels=["followup"]
    )
    after = await client.threads.get(thread_id=sent.thread_id)
    assert after.updated_at > before.updated_at
    assert after.timestamp == before.timestamp  # the thread's last activity is unchanged
