"""Full-text search of messages and threads: every word must match, newest first, with highlights."""

from __future__ import annotations

import pytest

from agentinbox import AsyncAgentInbox, NotFoundError, ValidationError
from agentinbox._clock import ManualClock


async def _mail(client: AsyncAgentInbox, clock: ManualClock) -> tuple[str, list[str]]:
    desk = await client.inboxes.create(username="desk")
    bodies = [
        ("Invoice overdue", "The invoice for March is overdue, please pay the invoice."),
        ("Lunch", "Shall we have lunch on Friday?"),
        ("Invoice question", "Is the March invoice final?"),
        ("Café crème", "Rendez-vous au café à midi pour la réunion."),
        ("Deploy", "The deploy failed with a timeout error"),
    ]
    ids = []
    for subject, text in bodies:
        clock.advance(60)
        raw = (
            f"From: Customer <customer@example.com>\r\nTo: {desk.inbox_id}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{len(ids)}-search@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        ).encode()
        ids.append((await client.deliver(raw, rcpt_to=[desk.inbox_id]))[0].message_id)
    return desk.inbox_id, ids


async def test_every_word_must_match_and_highlights_mark_them(
    client: AsyncAgentInbox, clock: ManualClock
) -> None:
    inbox_id, ids = await _mail(client, clock)
    found = await client.inboxes.messages.search(inbox_id=inbox_id, q="march invoice")
    assert [m.message_id for m in found.messages] == [ids[2], ids[0]]  # newest first
    first = found.messages[1]
    assert first.highlights is not None
    assert any("**invoice**" in fragment.lower() for fragment in first.highlights.text or [])
    assert any("**" in fragment for fragment in first.highlights.subject or [])
    assert (await client.inboxes.messages.search(inbox_id=inbox_id, q="invoice lunch")).count == 0


async def test_search_finds_accented_words_and_senders(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox_id, ids = await _mail(client, clock)
    assert [
        m.message_id for m in (await client.inboxes.messages.search(inbox_id=inbox_id, q="réunion")).messages
    ] == [ids[3]]
    by_sender = await client.inboxes.messages.search(inbox_id=inbox_id, q="customer deploy")
    assert [m.message_id for m in by_sender.messages] == [ids[4]]


async def test_search_pages_and_hides_trash(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox_id, ids = await _mail(client, clock)
    first = await client.inboxes.messages.search(inbox_id=inbox_id, q="invoice", limit=1)
    assert first.count == 1 and first.next_page_token
    second = await client.inboxes.messages.search(
        inbox_id=inbox_id, q="invoice", limit=1, page_token=first.next_page_token
    )
    assert [m.message_id for m in (*first.messages, *second.messages)] == [ids[2], ids[0]]
    assert second.next_page_token is None
    await client.inboxes.messages.update(inbox_id=inbox_id, message_id=ids[2], add_labels=["trash"])
    found = await client.inboxes.messages.search(inbox_id=inbox_id, q="invoice")
    assert [m.message_id for m in found.messages] == [ids[0]]


async def test_thread_search_and_scopes(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox_id, ids = await _mail(client, clock)
    threads = await client.inboxes.threads.search(inbox_id=inbox_id, q="timeout error")
    assert threads.count == 1
    message = await client.inboxes.messages.get(inbox_id=inbox_id, message_id=ids[4])
    assert threads.threads[0].thread_id == message.thread_id
    assert (await client.threads.search(q="timeout error")).count == 1
    other = await client.pods.create(name="other")
    assert (await client.pods.threads.search(pod_id=other.pod_id, q="timeout error")).count == 0


async def test_deleted_messages_leave_the_index(client: AsyncAgentInbox, clock: ManualClock) -> None:
    inbox_id, ids = await _mail(client, clock)
    await client.inboxes.messages.delete(inbox_id=inbox_id, message_id=ids[1])
    assert (await client.inboxes.messages.search(inbox_id=inbox_id, q="lunch friday")).count == 0


@pytest.mark.parametrize("q", ["", "   ", "!!! ???", "x" * 1001])
async def test_bad_queries_are_validation_errors(client: AsyncAgentInbox, clock: ManualClock, q: str) -> None:
    inbox_id, _ = await _mail(client, clock)
    with pytest.raises(ValidationError) as caught:
        await client.inboxes.messages.search(inbox_id=inbox_id, q=q)
    assert caught.value.code == "validation_error" and caught.value.message


async def test_query_syntax_is_not_interpreted(client: AsyncAgentInbox, clock: ManualClock) -> None:
    """FTS operators and quotes in q are plain words, never a syntax error."""
    inbox_id, _ = await _mail(client, clock)
    for q in [
        'invoice" OR "lunch',
        "invoice AND NOT march",
        "invoice*",
        "NEAR(invoice march)",
        "'; DROP TABLE x; --",
    ]:
        result = await client.inboxes.messages.search(inbox_id=inbox_id, q=q)
        assert result.count >= 0
    with pytest.raises(NotFoundError):
        await client.inboxes.messages.search(inbox_id="nobody@agents.test", q="invoice")
