"""The AgentMail quick example in-process: inboxes, send with cc and labels, threads, reply, local delivery."""

from __future__ import annotations

from agentinbox import AsyncAgentInbox
from agentinbox._clock import ManualClock


async def test_quick_example_round_trip(client: AsyncAgentInbox, clock: ManualClock) -> None:
    support = await client.inboxes.create(display_name="Support Agent", client_id="support-v1")
    alice = await client.inboxes.create(username="alice", display_name="Alice")
    bob = await client.inboxes.create(username="bob")
    assert support.inbox_id.endswith("@agents.test")
    assert support.email == support.inbox_id
    assert support.display_name == "Support Agent"

    sent = await client.inboxes.messages.send(
        inbox_id=alice.inbox_id,
        to=[support.inbox_id],
        cc=[f"Bob <{bob.inbox_id}>"],
        subject="Help with my order",
        text="My order has not arrived.",
        html="<p>My order has not arrived.</p>",
        labels=["Support", "order"],
    )
    assert sent.message_id.startswith("<") and sent.message_id.endswith("@agents.test>")

    threads = await client.inboxes.threads.list(inbox_id=support.inbox_id, labels=["unread"])
    assert threads.count == 1
    item = threads.threads[0]
    assert item.subject == "Help with my order"
    assert item.message_count == 1
    assert "received" in item.labels and "unread" in item.labels
    assert any(alice.inbox_id in s for s in item.senders)

    thread = await client.threads.get(thread_id=item.thread_id)
    received = thread.messages[-1]
    assert received.message_id == sent.message_id
    assert received.text.strip() == "My order has not arrived."
    assert received.cc == [f"Bob <{bob.inbox_id}>"]
    assert received.labels == ["received", "unread"]

    # Bob, in cc, has his own copy; the sender's copy is labelled sent with the user labels.
    bob_threads = await client.inboxes.threads.list(inbox_id=bob.inbox_id)
    assert bob_threads.count == 1
    own = await client.inboxes.messages.get(inbox_id=alice.inbox_id, message_id=sent.message_id)
    assert set(own.labels) == {"sent", "support", "order", "delivered"}
    assert own.thread_id == sent.thread_id

    clock.advance(60)
    reply = await client.inboxes.messages.reply(
        inbox_id=support.inbox_id,
        message_id=received.message_id,
        text="We are on it.",
        html="<p>We are on it.</p>",
    )
    assert reply.thread_id == item.thread_id

    # Back and forth: every message lands in the same thread on both sides.
    for turn in range(3):
        clock.advance(60)
        alice_view = await client.inboxes.threads.get(inbox_id=alice.inbox_id, thread_id=sent.thread_id)
        last = alice_view.messages[-1]
        answer = await client.inboxes.messages.reply(
            inbox_id=alice.inbox_id, message_id=last.message_id, text=f"Follow-up {turn}"
        )
        assert answer.thread_id == sent.thread_id
        clock.advance(60)
        support_view = await client.inboxes.threads.get(inbox_id=support.inbox_id, thread_id=item.thread_id)
        await client.inboxes.messages.reply(
            inbox_id=support.inbox_id, message_id=support_view.messages[-1].message_id, text=f"Answer {turn}"
        )

    alice_thread = await client.inboxes.threads.get(inbox_id=alice.inbox_id, thread_id=sent.thread_id)
    support_thread = await client.inboxes.threads.get(inbox_id=support.inbox_id, thread_id=item.thread_id)
    assert alice_thread.message_count == support_thread.message_count == 8
    assert [m.message_id for m in alice_thread.messages] == [m.message_id for m in support_thread.messages]
    assert (await client.inboxes.threads.list(inbox_id=alice.inbox_id)).count == 1
    assert (await client.inboxes.threads.list(inbox_id=support.inbox_id)).count == 1

    last = support_thread.messages[-1]
    assert last.subject == "Re: Help with my order"
    assert last.in_reply_to == support_thread.messages[-2].message_id
    assert last.references[-1] == last.in_reply_to
    assert last.references[0] == sent.message_id
    # The quoted history is in the text, the new content in extracted_text.
    assert "> " in last.text
    assert last.extracted_text == "Answer 2"


async def test_reply_all_never_includes_the_inbox(client: AsyncAgentInbox, clock: ManualClock) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    c = await client.inboxes.create(username="c")
    sent = await client.inboxes.messages.send(
        inbox_id=a.inbox_id,
        to=[b.inbox_id, "outside@example.com"],
        cc=[c.inbox_id],
        subject="Plan",
        text="Hi all",
    )
    clock.advance(5)
    copy = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=sent.message_id)
    answer = await client.inboxes.messages.reply_all(
        inbox_id=b.inbox_id, message_id=copy.message_id, text="Agreed"
    )
    mine = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=answer.message_id)
    everyone = [*mine.to, *(mine.cc or [])]
    assert not any(b.inbox_id in x for x in everyone)
    assert any(a.inbox_id in x for x in mine.to)
    assert any("outside@example.com" in x for x in everyone)
    assert any(c.inbox_id in x for x in everyone)
    # a and c got it locally, in the original thread.
    a_copy = await client.inboxes.messages.get(inbox_id=a.inbox_id, message_id=answer.message_id)
    assert a_copy.thread_id == sent.thread_id


async def test_forward_carries_text_and_attachments(client: AsyncAgentInbox) -> None:
    a = await client.inboxes.create(username="a")
    b = await client.inboxes.create(username="b")
    sent = await client.inboxes.messages.send(
        inbox_id=a.inbox_id,
        to=[b.inbox_id],
        subject="Report",
        text="See attached",
        attachments=[{"filename": "report.csv", "content": b"a,b\n1,2\n"}],
    )
    received = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=sent.message_id)
    assert received.attachments and received.attachments[0].filename == "report.csv"
    forwarded = await client.inboxes.messages.forward(
        inbox_id=b.inbox_id, message_id=received.message_id, to=["boss@example.com"], text="FYI"
    )
    mine = await client.inboxes.messages.get(inbox_id=b.inbox_id, message_id=forwarded.message_id)
    assert mine.subject == "Fwd: Report"
    assert mine.text.startswith("FYI")
    assert "See attached" in mine.text
    assert [x.filename for x in mine.attachments] == ["report.csv"]
    content = await client.inboxes.messages.get_attachment(
        inbox_id=b.inbox_id, message_id=mine.message_id, attachment_id=mine.attachments[0].attachment_id
    )
    assert content.content == b"a,b\n1,2\n"
    assert content.content_type == "text/csv"
    assert forwarded.thread_id != received.thread_id


async def test_a_reply_to_mail_without_a_message_id_stays_in_its_thread(client: AsyncAgentInbox) -> None:
    support = await client.inboxes.create(username="support")
    raw = (
        f"From: Alice <alice@customer.test>\r\nTo: {support.inbox_id}\r\nSubject: Where is my order?\r\n\r\n"
        "It has not arrived.\r\n"
    ).encode()
    [received] = await client.deliver(raw)
    reply = await client.inboxes.messages.reply(
        inbox_id=support.inbox_id, message_id=received.message_id, text="It arrives tomorrow."
    )
    assert reply.thread_id == received.thread_id
    thread = await client.threads.get(thread_id=received.thread_id)
    assert [m.message_id for m in thread.messages] == [received.message_id, reply.message_id]
