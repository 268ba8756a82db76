"""AgentInboxReader against a real engine: documents, metadata, filters, paging, cursor, async, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import MetadataMode
from llama_index.readers.agentinbox import AgentInboxReader
from llamaindex_mail import DOMAIN, mail

from agentinbox import AgentInbox, AsyncAgentInbox, NotFoundError
from agentinbox._clock import ManualClock

DESK = f"desk@{DOMAIN}"
FIRST = "Invoice 42 charges us twice for March."
SECOND = "Checking: was it the annual plan?"
THIRD = "Yes, the annual plan, order 7731."

LUNCH = (
    f"From: Dave <dave@example.com>\r\nTo: {DESK}\r\nSubject: Lunch on Friday\r\n"
    "Message-ID: <lunch@example.com>\r\nDate: Tue, 02 Jun 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nShall we try the noodle place?\r\n"
    '--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="menu.csv"\r\n\r\n'
    "dish,price\r\nramen,12\r\n--b--\r\n"
).encode()


def fill(client: AgentInbox, clock: ManualClock) -> None:
    """Two threads: a three-message conversation whose replies quote their history, and a lunch mail."""
    client.deliver(mail(1, body=FIRST))
    clock.advance(60)
    client.deliver(mail(2, body=SECOND, reply_to=1, quoted=FIRST, sender="dave@example.com"))
    clock.advance(60)
    client.deliver(mail(3, body=THIRD, reply_to=2, quoted=f"{SECOND}\n> {FIRST}"))
    clock.advance(60)
    client.deliver(LUNCH)


def test_is_a_llamaindex_reader() -> None:
    assert BaseReader.__name__ in [base.__name__ for base in AgentInboxReader.__mro__]


def test_one_document_per_thread_holds_the_conversation_once(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    docs = AgentInboxReader(engine).load_data()
    assert len(docs) == 2
    invoice = next(d for d in docs if d.metadata["subject"] == "Invoice question")
    text = invoice.text
    # In order, and each message's own words once: the quoted history is not indexed again.
    assert text.index(FIRST) < text.index(SECOND) < text.index(THIRD)
    assert text.count(FIRST) == 1 and text.count(SECOND) == 1
    assert "wrote:" not in text
    assert "carol@example.com" in text and "dave@example.com" in text
    md = invoice.metadata
    assert invoice.id_ == md["thread_id"]
    assert md["inbox_id"] == DESK and md["message_count"] == 3
    assert "carol@example.com" in md["senders"] and "dave@example.com" in md["senders"]
    assert DESK in md["recipients"]
    assert "received" in md["labels"].split(", ")
    assert md["started_at"] == "2026-06-01T10:01:00+00:00"
    assert md["timestamp"] == "2026-06-01T10:03:00+00:00"
    assert md["last_message_id"] == "<m3@example.com>"
    # Every metadata value is flat, so any vector store takes it.
    assert all(isinstance(v, str | int) for v in md.values())

    lunch = next(d for d in docs if d.metadata["subject"] == "Lunch on Friday")
    assert lunch.metadata["attachments"] == "menu.csv"
    assert "noodle place" in lunch.text and "[attachments: menu.csv]" in lunch.text


def test_ids_and_times_stay_out_of_the_embedding_but_reach_the_model(
    engine: AgentInbox, clock: ManualClock
) -> None:
    fill(engine, clock)
    doc = next(d for d in AgentInboxReader(engine).load_data() if d.metadata["message_count"] == 3)
    embedded = doc.get_content(metadata_mode=MetadataMode.EMBED)
    assert "subject: Invoice question" in embedded and "carol@example.com" in embedded
    for key in ("thread_id", "inbox_id", "last_message_id", "timestamp", "labels", "message_count"):
        assert f"{key}:" not in embedded
    shown = doc.get_content(metadata_mode=MetadataMode.LLM)
    assert f"thread_id: {doc.id_}" in shown and "last_message_id: <m3@example.com>" in shown
    assert "message_count" not in shown


def test_one_document_per_message(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    docs = AgentInboxReader(engine, per="message").load_data()
    assert len(docs) == 4
    reply = next(d for d in docs if d.metadata["message_id"] == "<m2@example.com>")
    assert reply.text == SECOND  # the reply's own words, not the quote of the first message
    assert reply.id_ == f"{reply.metadata['thread_id']}:<m2@example.com>"
    assert reply.metadata["from"] == "Carol <dave@example.com>"
    assert reply.metadata["in_reply_to"] == "<m1@example.com>"
    assert reply.metadata["to"] == DESK
    embedded = reply.get_content(metadata_mode=MetadataMode.EMBED)
    assert "message_id" not in embedded and "timestamp" not in embedded and "subject: Re: Invoice" in embedded
    assert "message_id: <m2@example.com>" in reply.get_content(metadata_mode=MetadataMode.LLM)
    # The same documents come from lazy_load_data, one at a time.
    lazy = AgentInboxReader(engine, per="message").lazy_load_data()
    assert [d.id_ for d in lazy] == [d.id_ for d in docs]


def test_html_only_message_is_read_as_its_visible_text(engine: AgentInbox) -> None:
    raw = (
        f"From: ops@example.com\r\nTo: {DESK}\r\nSubject: Status\r\nMessage-ID: <h@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
        "<html><style>p{color:red}</style><body><p>All systems &amp; services up.</p></body></html>\r\n"
    ).encode()
    engine.deliver(raw)
    (doc,) = AgentInboxReader(engine, per="message").load_data()
    assert doc.text == "All systems & services up."


def test_filters_inboxes_labels_and_times(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    sales = engine.inboxes.create(username="sales")
    engine.deliver(mail(20, to=sales.inbox_id, subject="Bulk order", day=3))
    assert len(AgentInboxReader(engine).load_data()) == 3
    only_sales = AgentInboxReader(engine, inbox_ids=[sales.inbox_id]).load_data()
    assert [d.metadata["subject"] for d in only_sales] == ["Bulk order"]
    both = AgentInboxReader(engine, inbox_ids=[DESK, sales.inbox_id]).load_data()
    assert len(both) == 3

    lunch = next(d for d in both if d.metadata["subject"] == "Lunch on Friday")
    engine.threads.update(thread_id=lunch.id_, add_labels=["social"])
    labelled = AgentInboxReader(engine, labels=["social"]).load_data()
    assert [d.id_ for d in labelled] == [lunch.id_]
    assert "social" in labelled[0].metadata["labels"].split(", ")

    june2 = datetime(2026, 6, 2, tzinfo=UTC)
    later = AgentInboxReader(engine, since=june2).load_data()
    assert sorted(d.metadata["subject"] for d in later) == ["Bulk order", "Lunch on Friday"]
    earlier = AgentInboxReader(engine).load_data(before=june2)  # filters can be given to the load too
    assert [d.metadata["subject"] for d in earlier] == ["Invoice question"]
    window = AgentInboxReader(engine).load_data(since=june2, before=june2 + timedelta(days=1))
    assert [d.metadata["subject"] for d in window] == ["Lunch on Friday"]

    by_id = AgentInboxReader(engine, thread_ids=[lunch.id_]).load_data()
    assert [d.id_ for d in by_id] == [lunch.id_]

    # Hidden threads (here: trashed) are left out unless the load includes them.
    engine.threads.update(thread_id=lunch.id_, add_labels=["trash"])
    assert lunch.id_ not in [d.id_ for d in AgentInboxReader(engine).load_data()]
    assert lunch.id_ in [d.id_ for d in AgentInboxReader(engine, include=["trash"]).load_data()]


def test_incremental_loading_from_the_cursor(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    reader = AgentInboxReader(engine)
    assert reader.cursor is None
    assert len(reader.load_data()) == 2
    cursor = reader.cursor
    assert cursor == datetime.fromtimestamp(1_800_000_180, tz=UTC)  # the lunch mail's arrival
    assert cursor is not None
    after = cursor + timedelta(microseconds=1)

    clock.advance(60)
    assert reader.load_data(cursor=after) == []
    assert reader.cursor == after  # nothing new: the cursor stays

    # A late reply to the invoice thread (its Date is older than the lunch mail, its arrival is not).
    engine.deliver(mail(4, body="Refund sent.", reply_to=3))
    changed = reader.load_data(cursor=after)
    assert len(changed) == 1 and changed[0].metadata["message_count"] == 4
    assert "Refund sent." in changed[0].text
    assert reader.cursor == datetime.fromtimestamp(1_800_000_240, tz=UTC)

    messages = AgentInboxReader(engine, per="message")
    new = messages.load_data(cursor=after)
    assert [d.metadata["message_id"] for d in new] == ["<m4@example.com>"]
    assert messages.cursor == reader.cursor

    # The cursor is inclusive: loading from exactly the newest change sees that thread again, same id.
    again = reader.load_data(cursor=reader.cursor)
    assert [d.id_ for d in again] == [changed[0].id_]

    # A label added to one message changes its thread: the next load from the cursor sees it.
    latest = reader.cursor
    clock.advance(60)
    first = engine.inboxes.threads.get(inbox_id=again[0].metadata["inbox_id"], thread_id=again[0].id_)
    engine.inboxes.messages.update(
        inbox_id=first.inbox_id, message_id=first.messages[0].message_id, add_labels=["paid"]
    )
    relabelled = reader.load_data(cursor=latest + timedelta(microseconds=1))
    assert [d.id_ for d in relabelled] == [first.thread_id]
    assert "paid" in relabelled[0].metadata["labels"]


def test_an_unfinished_lazy_load_leaves_the_cursor_alone(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    reader = AgentInboxReader(engine)
    iterator = iter(reader.lazy_load_data())
    next(iterator)
    assert reader.cursor is None
    list(iterator)
    assert reader.cursor is not None


def test_pages_of_threads_and_of_messages(engine: AgentInbox, clock: ManualClock) -> None:
    """Past the engine's 100-item pages: 101 messages in one thread, and 101 threads."""
    engine.deliver(mail(1000, subject="Long", body="message 0", day=None))
    for n in range(1, 101):
        clock.advance(1)
        engine.deliver(mail(1000 + n, subject="Long", body=f"message {n}", reply_to=1000 + n - 1, day=None))
    for n in range(100):
        engine.deliver(mail(5000 + n, subject=f"Topic {n}", body=f"topic {n}"))
    docs = AgentInboxReader(engine).load_data()
    assert len(docs) == 101
    long = next(d for d in docs if d.metadata["subject"] == "Long")
    assert long.metadata["message_count"] == 101
    positions = [long.text.index(f"message {n}\n") for n in range(100)]
    assert positions == sorted(positions)
    assert len(AgentInboxReader(engine, per="message").load_data()) == 201


async def test_aload_data_with_the_async_client(aengine: AsyncAgentInbox, clock: ManualClock) -> None:
    await aengine.deliver(mail(1, body=FIRST))
    clock.advance(60)
    await aengine.deliver(mail(2, body=SECOND, reply_to=1, quoted=FIRST))
    await aengine.deliver(LUNCH)
    reader = AgentInboxReader(aengine)
    docs = await reader.aload_data()
    assert len(docs) == 2 and reader.cursor is not None
    invoice = next(d for d in docs if d.metadata["message_count"] == 2)
    assert invoice.text.count(FIRST) == 1 and SECOND in invoice.text
    per_message = await AgentInboxReader(aengine).aload_data(per="message")
    assert len(per_message) == 3
    assert reader.cursor is not None
    assert await reader.aload_data(cursor=reader.cursor + timedelta(microseconds=1)) == []
    with pytest.raises(TypeError, match="aload_data"):
        reader.load_data()


async def test_aload_data_with_the_blocking_client(engine: AgentInbox, clock: ManualClock) -> None:
    fill(engine, clock)
    reader = AgentInboxReader(engine)
    docs = await reader.aload_data(per="message")
    assert len(docs) == 4 and reader.cursor is not None


def test_bad_arguments(engine: AgentInbox) -> None:
    naive = datetime(2026, 6, 1)
    with pytest.raises(TypeError, match="AgentInbox"):
        AgentInboxReader("sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="per must be"):
        AgentInboxReader(engine, per="page")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        AgentInboxReader(engine, since=naive)
    with pytest.raises(TypeError, match="datetime"):
        AgentInboxReader(engine, since="2026-06-01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of non-empty strings"):
        AgentInboxReader(engine, labels="unread")
    with pytest.raises(TypeError, match="list of non-empty strings"):
        AgentInboxReader(engine, inbox_ids=[""])
    with pytest.raises(ValueError, match="include must be"):
        AgentInboxReader(engine, include=["inbox"])
    with pytest.raises(ValueError, match="include must be"):
        AgentInboxReader(engine, include="trash")
    with pytest.raises(ValueError, match="thread_ids"):
        AgentInboxReader(engine, thread_ids=["t"], labels=["unread"])
    reader = AgentInboxReader(engine)
    with pytest.raises(TypeError, match="unknown argument"):
        reader.load_data(folder="INBOX")
    with pytest.raises(TypeError, match="keyword"):
        reader.load_data(DESK)
    with pytest.raises(ValueError, match="timezone-aware"):
        reader.load_data(cursor=naive)
    with pytest.raises(NotFoundError):
        reader.load_data(thread_ids=["00000000-0000-0000-0000-000000000000"])
    with pytest.raises(NotFoundError):
        reader.load_data(inbox_ids=["nobody@agents.test"])
    assert reader.cursor is None
