"""AgentInboxLoader on a real engine: one Document per thread, the conversation in order without quoted
history, metadata, filters, paging (of threads and of a long thread's messages), async, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from langchain_agentinbox import AgentInboxLoader
from langchain_core.document_loaders import BaseLoader

from agentinbox import AgentInbox, AsyncAgentInbox, NotFoundError, ValidationError
from agentinbox._clock import ManualClock
from tests.mailbox import Mailbox, customer_mail, seed


def test_one_document_per_thread_latest_activity_first(mailbox: Mailbox) -> None:
    loader = AgentInboxLoader(mailbox.client, mailbox.support)
    assert isinstance(loader, BaseLoader)
    documents = loader.load()
    assert [d.id for d in documents] == [mailbox.refund_thread, mailbox.order_thread]
    assert [d.metadata["thread_id"] for d in documents] == [d.id for d in documents]


def test_the_conversation_in_order_without_quoted_history(mailbox: Mailbox) -> None:
    (document,) = [
        d for d in AgentInboxLoader(mailbox.client, mailbox.support).load() if d.id == mailbox.order_thread
    ]
    content = document.page_content
    assert content.startswith("Subject: Order #1234 has not arrived\n\n")
    question = content.index("Hello, my order #1234 has not arrived yet. Where is it?")
    answer = content.index("Your parcel is at the local depot and will be delivered tomorrow.")
    thanks = content.index("Thank you, that is great news!")
    assert question < answer < thanks
    # Alice quoted the answer; the Document has it once (the extracted reply leaves the quote out).
    assert content.count("Your parcel is at the local depot") == 1
    assert "> Your parcel" not in content and "Support wrote" not in content
    assert content.count("\n\n---\n\n") == 2
    assert (
        "From: Alice Example <alice@customer.test>\nTo: support@agents.test\nDate: 2027-01-15T08:01:00+00:00"
        in content
    )


def test_metadata(mailbox: Mailbox) -> None:
    documents = {d.id: d for d in AgentInboxLoader(mailbox.client, mailbox.support).load()}
    meta = documents[mailbox.order_thread].metadata
    assert meta == {
        "source": f"agentinbox://support@agents.test/threads/{mailbox.order_thread}",
        "thread_id": mailbox.order_thread,
        "inbox_id": "support@agents.test",
        "subject": "Order #1234 has not arrived",
        "senders": ["Alice Example <alice@customer.test>", "Support <support@agents.test>"],
        "recipients": ["support@agents.test", "Alice Example <alice@customer.test>"],
        "labels": ["received", "sent", "unread"],
        "message_ids": [mailbox.order_question, mailbox.order_answer, mailbox.order_follow_up],
        "message_count": 3,
        "attachments": ["receipt.txt"],
        "first_timestamp": "2027-01-15T08:01:00+00:00",
        "last_timestamp": "2027-01-15T08:03:00+00:00",
        "created_at": "2027-01-15T08:01:00+00:00",
        "updated_at": "2027-01-15T08:03:00+00:00",
    }
    assert documents[mailbox.refund_thread].metadata["labels"] == ["billing", "received", "unread"]


def test_filters_limit_and_all_inboxes(mailbox: Mailbox) -> None:
    client = mailbox.client
    assert [d.id for d in AgentInboxLoader(client, mailbox.support, labels=["billing"]).load()] == [
        mailbox.refund_thread
    ]
    assert [d.id for d in AgentInboxLoader(client, mailbox.support, labels="billing").load()] == [
        mailbox.refund_thread
    ]
    assert AgentInboxLoader(client, mailbox.support, labels=["nothing-has-this"]).load() == []
    cut = datetime(2027, 1, 15, 8, 3, 30, tzinfo=UTC)
    assert [d.id for d in AgentInboxLoader(client, mailbox.support, after=cut).load()] == [
        mailbox.refund_thread
    ]
    assert [d.id for d in AgentInboxLoader(client, mailbox.support, before=cut).load()] == [
        mailbox.order_thread
    ]
    assert [d.id for d in AgentInboxLoader(client, mailbox.support, limit=1).load()] == [
        mailbox.refund_thread
    ]
    assert AgentInboxLoader(client, mailbox.support, limit=0).load() == []
    everywhere = AgentInboxLoader(client).load()
    assert [d.id for d in everywhere] == [mailbox.pricing_thread, mailbox.refund_thread, mailbox.order_thread]
    assert everywhere[0].metadata["inbox_id"] == "sales@agents.test"


def test_pages_of_threads_give_the_same_documents(mailbox: Mailbox) -> None:
    whole = AgentInboxLoader(mailbox.client).load()
    paged = AgentInboxLoader(mailbox.client, page_size=1)
    assert [d.model_dump() for d in paged.lazy_load()] == [d.model_dump() for d in whole]
    assert [d.id for d in AgentInboxLoader(mailbox.client, page_size=1, limit=2).load()] == [
        d.id for d in whole[:2]
    ]


def test_a_thread_deleted_while_loading_is_skipped(mailbox: Mailbox) -> None:
    documents = AgentInboxLoader(mailbox.client).lazy_load()
    assert next(documents).id == mailbox.pricing_thread  # the page of all three threads is read
    mailbox.client.threads.delete(thread_id=mailbox.refund_thread)
    assert [d.id for d in documents] == [mailbox.order_thread]


async def test_a_thread_deleted_while_loading_async_is_skipped(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/agentinbox.db"
    with AgentInbox(database_url=url, default_domain="agents.test", clock=clock) as client:
        box = seed(client, clock)
    async with AsyncAgentInbox(database_url=url, default_domain="agents.test", clock=clock) as engine:
        documents = AgentInboxLoader(engine, limit=2).alazy_load()
        assert (await anext(documents)).id == box.pricing_thread
        await engine.threads.delete(thread_id=box.refund_thread)
        assert [d.id async for d in documents] == [box.order_thread]  # the limit counts loaded threads


def test_a_thread_longer_than_one_page_is_read_whole(client: AgentInbox, clock: ManualClock) -> None:
    inbox = client.inboxes.create(username="support").inbox_id
    (first,) = client.deliver(customer_mail("a@customer.test", inbox, "Long", "message 0"), rcpt_to=[inbox])
    previous = first.message_id
    for n in range(1, 103):  # 103 messages: threads.get returns at most 100 at a time
        clock.advance(1)
        (message,) = client.deliver(
            customer_mail("a@customer.test", inbox, "Re: Long", f"message {n}", in_reply_to=previous),
            rcpt_to=[inbox],
        )
        previous = message.message_id
    (document,) = AgentInboxLoader(client, inbox).load()
    assert document.metadata["message_count"] == 103 and len(document.metadata["message_ids"]) == 103
    positions = [document.page_content.index(f"\n\nmessage {n}\n") for n in range(102)]
    assert positions == sorted(positions)
    assert document.page_content.endswith("\n\nmessage 102")
    assert document.metadata["message_ids"][0] == first.message_id


def test_html_only_mail_is_loaded_as_text(client: AgentInbox) -> None:
    inbox = client.inboxes.create(username="support").inbox_id
    mail = EmailMessage()
    mail["From"] = "news@shop.test"
    mail["To"] = inbox
    mail["Subject"] = "Offer"
    mail.set_content("<html><body><p>Half price <b>teapots</b> today</p></body></html>", subtype="html")
    client.deliver(mail.as_bytes(), rcpt_to=[inbox])
    (document,) = AgentInboxLoader(client, inbox).load()
    assert "Half price teapots today" in document.page_content
    assert "<b>" not in document.page_content


async def test_async_loading_gives_the_same_documents(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/agentinbox.db"
    with AgentInbox(database_url=url, default_domain="agents.test", clock=clock) as client:
        box = seed(client, clock)
        expected = [d.model_dump() for d in AgentInboxLoader(client).load()]
        # alazy_load with the blocking client runs lazy_load in a worker thread
        assert [d.model_dump() async for d in AgentInboxLoader(client).alazy_load()] == expected
    async with AsyncAgentInbox(database_url=url, default_domain="agents.test", clock=clock) as engine:
        loaded = await AgentInboxLoader(engine).aload()
        assert [d.model_dump() for d in loaded] == expected
        paged = [d.model_dump() async for d in AgentInboxLoader(engine, page_size=1, limit=2).alazy_load()]
        assert paged == expected[:2]
        only = await AgentInboxLoader(engine, box.support, labels=["billing"]).aload()
        assert [d.id for d in only] == [box.refund_thread]
        # The async client belongs to this loop: sync loading says what to do instead of deadlocking.
        with pytest.raises(RuntimeError, match=r"AsyncAgentInbox.*alazy_load"):
            AgentInboxLoader(engine).load()


def test_bad_arguments(client: AgentInbox) -> None:
    for limit in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="limit"):
            AgentInboxLoader(client, limit=limit)  # type: ignore[arg-type]
    for page_size in (0, 101, 2.0, None, False):
        with pytest.raises(ValueError, match="page_size"):
            AgentInboxLoader(client, page_size=page_size)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        AgentInboxLoader(client, "nobody@agents.test").load()
    with pytest.raises(ValidationError):
        AgentInboxLoader(client, labels=[""]).load()
    with pytest.raises(ValidationError):
        AgentInboxLoader(client, after="yesterday").load()  # type: ignore[arg-type]
    empty = client.inboxes.create(username="empty").inbox_id
    assert AgentInboxLoader(client, empty).load() == []
